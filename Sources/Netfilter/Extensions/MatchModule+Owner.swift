import Wire

/// `-m owner` (libxt_owner.c, revision 1): `[!] --uid-owner ID[-ID]`, `[!] --gid-owner
/// ID[-ID]`, `--suppl-groups` (after `--gid-owner`), `[!] --socket-exists`.
extension MatchModule {
    static let ownerOptions = ModuleSpec([
        OptionSpec("--uid-owner", invertible: true), OptionSpec("--gid-owner", invertible: true),
        OptionSpec("--socket-exists", 0, invertible: true), OptionSpec("--suppl-groups", 0),
    ])

    /// owner_mt_parse and owner_mt_check. A name is looked up in the node's passwd or group
    /// file, which kdp does not have: only `root` (0 on every Linux) is taken as a name.
    static func buildOwner(_ opts: RuleParser.Options, into out: inout [Match]) throws(RuleError) {
        var m = OwnerMatch()
        for o in opts {
            switch o.name {
            case "--uid-owner":
                m.uid = try ownerRange(o.args[0], option: o.name)
                m.uidNegated = o.negated
            case "--gid-owner":
                m.gid = try ownerRange(o.args[0], option: o.name)
                m.gidNegated = o.negated
            case "--socket-exists":
                m.socketExists = true
                m.socketNegated = o.negated
            default:  // --suppl-groups
                guard m.gid != nil else { throw RuleError(word: o.word, reason: "--suppl-groups needs --gid-owner before it") }
                m.supplementaryGroups = true
            }
        }
        guard m.uid != nil || m.gid != nil || m.socketExists else {
            throw RuleError(word: "owner", reason: "owner needs --uid-owner, --gid-owner or --socket-exists")
        }
        out.append(.owner(m))
    }

    /// owner_parse_range: `from[-to]` (or `from:to`), each as strtoul reads it (base 0:
    /// `0x10` is 16, `010` is 8) up to 4294967294 (-1 is reserved). A range whose end is below
    /// its start is refused, as the kernel's owner_check refuses it.
    static func ownerRange(_ text: String, option: String) throws(RuleError) -> ClosedRange<UInt32> {
        if text == "root" { return 0...0 }
        let max: UInt64 = 4_294_967_294
        guard let (from, rest) = RuleParser.cUnsigned(Substring(text)), from <= max else {
            throw RuleError(word: text, reason: "bad value for \(option) (a number; user and group names other than root are the node's)")
        }
        var to = from
        if let sep = rest.first {
            guard sep == "-" || sep == ":", let (t, end) = RuleParser.cUnsigned(rest.dropFirst()), t <= max, end.isEmpty else {
                throw RuleError(word: text, reason: "bad value for \(option)")
            }
            to = t
        }
        guard to >= from else { throw RuleError(word: text, reason: "\(option) range ends below its start") }
        return UInt32(from)...UInt32(to)
    }

    /// owner_mt_save: `--socket-exists`, `--uid-owner`, `--gid-owner` (each with `!` before it
    /// when inverted; a range as `from-to`), then `--suppl-groups`.
    static func saveOwner(_ matches: ArraySlice<Match>, into out: inout [String]) {
        func range(_ r: ClosedRange<UInt32>) -> String { r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)" }
        for case .owner(let m) in matches {
            if m.socketExists { out.option("--socket-exists", m.socketNegated) }
            if let u = m.uid { out.option("--uid-owner", m.uidNegated, range(u)) }
            if let g = m.gid { out.option("--gid-owner", m.gidNegated, range(g)) }
            if m.supplementaryGroups { out.append("--suppl-groups") }
        }
    }
}

extension RuleParser {
    /// An unsigned number as C's strtoumax reads it with base 0 after xtables_strtoul's checks:
    /// leading blanks, an optional `+` (a `-` is refused), `0x` hex, `0` octal, else decimal;
    /// the value and the text after it. Nil when no digit is read or the value overflows.
    static func cUnsigned(_ s: Substring) -> (UInt64, Substring)? {
        var p = s.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        if p.first == "-" { return nil }
        if p.first == "+" { p = p.dropFirst() }
        var base: UInt64 = 10
        if p.hasPrefix("0x") || p.hasPrefix("0X"), let d = p.dropFirst(2).first, d.isHexDigit {
            base = 16
            p = p.dropFirst(2)
        } else if p.hasPrefix("0") {
            base = 8
        }
        var value: UInt64 = 0
        var digits = 0
        while let c = p.first, let d = c.hexDigitValue, UInt64(d) < base {
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (v, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            value = v
            digits += 1
            p = p.dropFirst()
        }
        return digits == 0 ? nil : (value, p)
    }
}

/// `-m owner` (xt_owner.c): the socket a locally generated packet was sent from. Only OUTPUT
/// and POSTROUTING may use it (the kernel refuses other hooks at load); a packet without a
/// socket (forwarded, or made by the kernel) matches only when every option given is inverted.
public struct OwnerMatch: Hashable, Sendable {
    public var uid: ClosedRange<UInt32>?
    public var uidNegated = false
    public var gid: ClosedRange<UInt32>?
    public var gidNegated = false
    public var socketExists = false
    public var socketNegated = false
    /// `--suppl-groups`: the socket's supplementary groups count too (kdp's sockets have none
    /// besides their gid).
    public var supplementaryGroups = false

    public init() {}

    /// owner_mt: `socket` is the sending socket's owner, nil when the packet has none.
    func matches(_ socket: SocketOwner?) -> Bool {
        guard let socket else {
            // (info->match ^ info->invert) == 0; --suppl-groups is a match bit never inverted.
            return (uid == nil || uidNegated) && (gid == nil || gidNegated) && (!socketExists || socketNegated)
                && !supplementaryGroups
        }
        if socketExists && socketNegated { return false }
        if let uid, uid.contains(socket.uid) == uidNegated { return false }
        if let gid, gid.contains(socket.gid) == gidNegated { return false }
        return true
    }
}

/// The owner of the socket a locally generated packet leaves from: the process's fsuid and
/// fsgid, as `-m owner` compares them.
public struct SocketOwner: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32 = 0, gid: UInt32 = 0) {
        self.uid = uid
        self.gid = gid
    }
}
