import ArgumentParser
import Cluster
import IPVS
import Wire

/// Checks of flag values that commands share, called from `validate()` so that every value is
/// refused before any work starts (a bad `--masquerade-mark` used to be copied into the rules,
/// an unknown `--ipvs-scheduler` only noted per Service). Each throws an `InputError` naming the
/// flag and quoting at most a short excerpt of the value.
enum FlagValue {
    /// An address, as `--src`, `--dst` and `--local-ip` take it (leading zeros allowed, as
    /// iptables allows them).
    static func address(_ text: String, flag: String) throws(InputError) -> IPAddress {
        do { return try IPAddress(sloppy: text) } catch {
            throw InputError("\(flag): \"\(Excerpt.quote(text))\" is not an IPv4 or IPv6 address")
        }
    }

    /// A comma-separated list of CIDRs, at most one per family when `onePerFamily` (kube-proxy's
    /// `--cluster-cidr`, dual-stack as "IPv4,IPv6"); no empty parts.
    static func cidrs(_ text: String, flag: String, onePerFamily: Bool) throws(InputError) -> [Prefix] {
        var out: [Prefix] = []
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw InputError("\(flag) needs at least one CIDR, such as 10.244.0.0/16") }
        for part in parts {
            let p = part.trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else { throw InputError("\(flag): empty entry in \"\(Excerpt.quote(text))\" (CIDRs are separated by single commas)") }
            do { out.append(try Prefix(parsing: p, sloppy: true)) } catch {
                throw InputError("\(flag): \"\(Excerpt.quote(p))\" is not a CIDR (\(error.reason))")
            }
        }
        if onePerFamily {
            for fam in [IPFamily.ipv4, .ipv6] where out.filter({ $0.family == fam }).count > 1 {
                throw InputError("\(flag) takes at most one \(fam == .ipv4 ? "IPv4" : "IPv6") CIDR (one per family, as kube-proxy does)")
            }
        }
        return out
    }

    /// An IPVS scheduler kdp's IPVS core emulates.
    static func scheduler(_ text: String?, flag: String = "--ipvs-scheduler") throws(InputError) {
        guard let text, SchedulerName(rawValue: text) == nil else { return }
        throw InputError("\(flag): \"\(Excerpt.quote(text))\" is not a scheduler kdp emulates (\(SchedulerName.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// kube-proxy's masquerade mark, spelt as given (`0x4000`, `0x00004000`, `16384`): one bit
    /// of a 32-bit mark. Returns the bit.
    static func masqueradeMark(_ text: String, flag: String = "--masquerade-mark") throws(InputError) -> Int {
        let value: UInt32?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = text.dropFirst(2)
            value = digits.isEmpty || digits.count > 8 ? nil : UInt32(digits, radix: 16)
        } else {
            value = text.count > 10 ? nil : UInt32(text)
        }
        guard let v = value else {
            throw InputError("\(flag): \"\(Excerpt.quote(text))\" is not a mark (give 0x followed by hex digits, such as 0x4000, or a decimal number)")
        }
        guard v != 0, v & (v - 1) == 0 else {
            throw InputError("\(flag): \(Excerpt.quote(text)) is not a single bit (kube-proxy's masquerade mark is 1 << --masquerade-bit)")
        }
        return v.trailingZeroBitCount
    }

    /// A network interface name as the kernel accepts it (dev_valid_name): 1 to 15 bytes, no
    /// `/`, no white space, not `.` or `..`.
    static func interfaceName(_ text: String, flag: String) throws(InputError) {
        let ok = !text.isEmpty && text.utf8.count <= 15 && text != "." && text != ".."
            && !text.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 }
        if !ok { throw InputError("\(flag): \"\(Excerpt.quote(text))\" is not an interface name (1-15 characters, no /, : or spaces)") }
    }

    /// A count from a flag, within `range`: the bound is stated in the message.
    static func count(_ value: Int, flag: String, _ range: ClosedRange<Int>, why: String = "") throws(InputError) {
        guard !range.contains(value) else { return }
        throw InputError("\(flag) must be \(range.lowerBound)-\(range.upperBound)\(why.isEmpty ? "" : " (\(why))"), not \(value)")
    }
}
