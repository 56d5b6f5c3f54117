import Foundation
import Wire

/// What `nft list table <family> kube-proxy` (nft 1.0.6) prints once the transaction is
/// loaded: the kernel's object order (sets and maps as added, then chains as added), each
/// set's elements sorted as nft's `list_expr_sort` sorts them, and each rule as nft
/// decompiles it (kube-proxy's `mark` words as `meta mark` with 32-bit hex, one-element
/// anonymous sets as a plain value, standard priorities by name). Checked against the kernel
/// by NFTablesKernelTests.
extension NFTablesRuleset {
    public func listText() -> String {
        var out = "table \(family.rawValue) \(tableName) {\n"
        if let tableComment { out += "\tcomment \(Self.goQuote(tableComment))\n" }
        // `nft -f` of `transactionText()` adds sets, then maps, then chains, each sorted.
        var blocks: [String] = []
        for i in sortedContainerOrder { blocks.append(listContainer(containers[i])) }
        for i in sortedChainOrder { blocks.append(listChain(chains[i])) }
        out += blocks.joined(separator: "\n")
        return out + "}\n"
    }

    func listContainer(_ s: Container) -> String {
        var out = "\t\(s.kind.rawValue) \(s.name) {\n\t\ttype \(s.type)\n"
        // nft gives a set that rules update (`dynamic`) its default size.
        if s.flags.contains("dynamic") { out += "\t\tsize 65535\n" }
        if !s.flags.isEmpty { out += "\t\tflags \(s.flags.joined(separator: ","))\n" }
        if let t = s.timeoutSeconds { out += "\t\ttimeout \(Self.nftTime(t))\n" }
        if let comment = s.comment { out += "\t\tcomment \(Self.goQuote(comment))\n" }
        if !s.elements.isEmpty {
            let keyTypes = s.type.components(separatedBy: " : ")[0].components(separatedBy: " . ")
            let sorted = s.elements.map { (Self.sortKey($0.key, keyTypes), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
            // nft's `calculate_delim`: addresses two to a line, other single types five,
            // concatenations one.
            let perLine = keyTypes.count > 1 ? 1 : (keyTypes[0] == "ipv4_addr" ? 2 : (keyTypes[0] == "ipv6_addr" ? 1 : 5))
            out += "\t\telements = { "
            for (i, e) in sorted.enumerated() {
                if i > 0 { out += i % perLine == 0 ? ",\n\t\t\t     " : ", " }
                out += e.key.joined(separator: " . ")
                if let comment = e.comment { out += " comment \(Self.goQuote(comment))" }
                if !e.value.isEmpty { out += " : " + e.value.joined(separator: " . ") }
            }
            out += " }\n"
        }
        return out + "\t}\n"
    }

    func listChain(_ c: Chain) -> String {
        var out = "\tchain \(c.name) {\n"
        if let b = c.base {
            out += "\t\ttype \(b.type.rawValue) hook \(b.hook.rawValue) priority \(Self.priorityText(b.priority, hook: b.hook)); policy accept;\n"
        }
        if let comment = c.comment { out += "\t\tcomment \(Self.goQuote(comment))\n" }
        for r in c.rules {
            out += "\t\t" + listRule(r.text)
            if let comment = r.comment { out += " comment \(Self.goQuote(comment))" }
            out += "\n"
        }
        return out + "\t}\n"
    }

    /// nft's standard priority names (`std_prio_table`, family ip/ip6/inet): a name within
    /// ±10 of the value, where the name is valid at the hook.
    static func priorityText(_ p: Int, hook: Hook) -> String {
        let names: [(String, Int, Bool)] = [
            ("raw", -300, true), ("mangle", -150, true), ("dstnat", -100, hook == .prerouting),
            ("filter", 0, true), ("security", 50, true), ("srcnat", 100, hook == .postrouting),
        ]
        for (name, value, valid) in names where valid && abs(p - value) <= 10 {
            let d = p - value
            return d == 0 ? name : d < 0 ? "\(name) - \(-d)" : "\(name) + \(d)"
        }
        return String(p)
    }

    /// nft's time format: days, hours, minutes, seconds, each when non-zero.
    static func nftTime(_ seconds: Int) -> String {
        if seconds == 0 { return "0s" }
        var s = seconds, out = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where s >= size {
            out += "\(s / size)\(unit)"
            s %= size
        }
        return out
    }

    /// The value nft sorts an element by (mergesort.c `expr_msort_value`): a single value as
    /// its number; a concatenation as its bytes (addresses and ports in network order, the
    /// protocol one byte) read as one little-endian number. Returned as bytes, most
    /// significant first, so that byte-wise comparison orders them.
    static func sortKey(_ key: [String], _ types: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (word, type) in zip(key, types) {
            switch type {
            case "ipv4_addr", "ipv6_addr":
                if let a = try? IPAddress(parsing: word) {
                    let width = a.family == .ipv4 ? 4 : 16
                    bytes += (0..<width).map { UInt8(truncatingIfNeeded: a.bits >> (8 * (width - 1 - $0))) }
                }
            case "inet_proto":
                bytes.append(["tcp": 6, "udp": 17, "sctp": 132][word] ?? UInt8(word) ?? 0)
            case "inet_service":
                let p = UInt16(word) ?? 0
                bytes += [UInt8(p >> 8), UInt8(p & 0xff)]
            default:
                bytes += Array(word.utf8)
            }
        }
        return types.count > 1 ? bytes.reversed() : bytes
    }

    /// A rule as nft lists it: the spellings kube-proxy writes that nft prints differently.
    func listRule(_ text: String) -> String {
        var words = text.split(separator: " ").map(String.init)
        var out: [String] = []
        var i = 0
        func hex(_ s: String) -> String {
            let v = s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
            return "0x" + String(format: "%08x", v ?? 0)
        }
        while i < words.count {
            let w = words[i]
            // `mark set mark or|xor M`, `mark and M == 0`.
            if w == "mark", i + 4 < words.count, words[i + 1] == "set", words[i + 2] == "mark", ["or", "xor"].contains(words[i + 3]) {
                out += ["meta", "mark", "set", "meta", "mark", words[i + 3] == "or" ? "|" : "^", hex(words[i + 4])]
                i += 5
                continue
            }
            if w == "mark", i + 4 < words.count, words[i + 1] == "and", words[i + 3] == "==" {
                out += ["meta", "mark", "&", hex(words[i + 2]), "==", hex(words[i + 4])]
                i += 5
                continue
            }
            // `iifname NAME`, `iifname != NAME`: nft quotes the name.
            if w == "iifname", i + 1 < words.count {
                out.append(w)
                var j = i + 1
                if words[j] == "!=" { out.append("!="); j += 1 }
                if j < words.count { out.append("\"" + words[j] + "\"") }
                i = j + 1
                continue
            }
            // An anonymous set: `{ a , b }` (knftables' Concat spacing).
            if w == "{" , let close = words[(i + 1)...].firstIndex(of: "}") {
                let inner = Array(words[(i + 1)..<close])
                let isVmap = out.last == "vmap"
                let isUpdate = out.count >= 2 && out[out.count - 2] == "update"
                if isUpdate {
                    out += ["{"] + inner + ["}"]
                } else if isVmap {
                    let entries = inner.split(separator: ",").map { $0.joined(separator: " ") }
                    out.append("{ " + entries.joined(separator: ", ") + " }")
                } else {
                    let items = inner.filter { $0 != "," }.flatMap { $0.split(separator: ",").map(String.init) }
                    let shown = Self.intervalElements(items)
                    // One element: nft compiles a plain comparison; more: a set, braces kept after merging.
                    out.append(items.count == 1 && shown.count == 1 ? shown[0] : "{ " + shown.joined(separator: ", ") + " }")
                }
                i = close + 1
                continue
            }
            out.append(w)
            i += 1
        }
        words = out
        return words.joined(separator: " ")
    }

    /// An anonymous interval set's elements as nft lists them (nft 1.0.6's automerge, as the
    /// kernel check found it): sorted; overlapping elements merged, and adjacent ones when
    /// either is a range (two adjacent single addresses stay apart); a merged interval printed
    /// as a prefix when it is one, else `low-high`; single addresses plain.
    static func intervalElements(_ items: [String]) -> [String] {
        struct Interval { var lo: UInt128, hi: UInt128, isRange: Bool, family: IPFamily }
        var intervals: [Interval] = []
        for item in items {
            if let a = try? IPAddress(parsing: item) {
                intervals.append(Interval(lo: a.bits, hi: a.bits, isRange: false, family: a.family))
            } else if let p = try? Prefix(parsing: item, sloppy: true) {
                let width = p.family.bitWidth
                let size: UInt128 = p.length == 0 ? (width == 128 ? UInt128.max : (UInt128(1) << width) - 1) : (UInt128(1) << (width - p.length)) - 1
                intervals.append(Interval(lo: p.network.bits, hi: p.network.bits + size, isRange: p.length < width, family: p.family))
            } else {
                return items  // not addresses: as written
            }
        }
        intervals.sort { ($0.lo, $0.hi) < ($1.lo, $1.hi) }
        var merged: [Interval] = []
        for i in intervals {
            if var last = merged.last,
               i.lo <= last.hi || (last.hi < UInt128.max && i.lo == last.hi + 1 && (last.isRange || i.isRange)) {
                last.hi = max(last.hi, i.hi)
                last.isRange = last.isRange || i.isRange || last.lo != last.hi
                merged[merged.count - 1] = last
            } else {
                merged.append(i)
            }
        }
        return merged.map { iv in
            let width = iv.family.bitWidth
            func address(_ bits: UInt128) -> String { IPAddress(family: iv.family, bits: bits).description }
            if !iv.isRange && iv.lo == iv.hi { return address(iv.lo) }
            let span = iv.hi &- iv.lo
            // A prefix: the span is 2^k - 1 and the low end is aligned to it.
            if span & (span &+ 1) == 0 && iv.lo & span == 0 {
                let hostBits = span == UInt128.max ? 128 : (span &+ 1).trailingZeroBitCount
                return "\(address(iv.lo))/\(width - hostBits)"
            }
            return "\(address(iv.lo))-\(address(iv.hi))"
        }
    }
}
