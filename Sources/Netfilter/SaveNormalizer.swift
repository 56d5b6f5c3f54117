import Foundation
import Wire

/// Turns the words of a rule as written to `iptables-restore` into the words `iptables-save`
/// prints for it afterwards: the kernel keeps a parsed rule, and iptables prints it back in its
/// own order and spelling. The header options come first in the order `-s -d -i -o -p -f`
/// (addresses with their prefix length), then the match modules in the order written, each with
/// its options in the order its `save` function prints them, then the target with its options
/// spelled as its `save` function does (libxt_MARK prints every mark operation as
/// `--set-xmark`; libxt_REJECT adds the default `--reject-with`). Checked against the real
/// iptables-save in a network namespace (KubeProxyTests).
public enum SaveNormalizer {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Normalizes one rule's words (unquoted: one word per argument). `family` decides host
    /// prefix lengths and REJECT's default.
    public static func normalize(_ words: [String], family: IPFamily) throws -> [String] {
        var header: [String: [String]] = [:]
        var modules: [(name: String, options: [[String]])] = []
        var target: [String] = []
        var i = 0
        var negate = false
        func option() -> [String] {
            // An option and its arguments: up to the next word that starts an option or `!`.
            var out = [words[i]]
            i += 1
            while i < words.count, !words[i].hasPrefix("-") || (Double(words[i]) != nil), words[i] != "!" {
                out.append(words[i])
                i += 1
            }
            return out
        }
        while i < words.count {
            let w = words[i]
            if w == "!" { negate = true; i += 1; continue }
            switch w {
            case "-s", "--source", "-d", "--destination", "-i", "--in-interface", "-o", "--out-interface", "-p", "--protocol", "-f", "--fragment":
                let key = ["--source": "-s", "--destination": "-d", "--in-interface": "-i", "--out-interface": "-o",
                           "--protocol": "-p", "--fragment": "-f"][w] ?? w
                i += 1
                var value: [String] = []
                if key != "-f" {
                    guard i < words.count else { throw Problem(description: "\(w) needs a value") }
                    value = [try headerValue(key, words[i], family: family)]
                    i += 1
                }
                header[key] = (negate ? ["!"] : []) + [key] + value
                negate = false
            case "-m", "--match":
                guard i + 1 < words.count else { throw Problem(description: "-m needs a module name") }
                modules.append((words[i + 1], []))
                i += 2
            case "-j", "--jump", "-g", "--goto":
                target = [w == "--jump" ? "-j" : (w == "--goto" ? "-g" : w)] + words[(i + 1)...]
                i = words.count
            default:
                guard !modules.isEmpty else { throw Problem(description: "option \(w) outside any match") }
                var opt = option()
                if negate { opt.insert("!", at: 0); negate = false }
                modules[modules.count - 1].options.append(opt)
            }
        }
        var out: [String] = []
        for key in ["-s", "-d", "-i", "-o", "-p", "-f"] { out += header[key] ?? [] }
        for m in modules { out += ["-m", m.name] + saveOptions(m.name, m.options, family: family) }
        out += saveTarget(target, family: family)
        return out
    }

    static func headerValue(_ key: String, _ value: String, family: IPFamily) throws -> String {
        switch key {
        case "-s", "-d":
            // iptables-save always shows the prefix length, and masks host bits away.
            do { return try Prefix(parsing: value, sloppy: true, allowHostBits: true, allowBareAddress: true).description } catch {
                throw Problem(description: "\(key) \(value): \(error)")
            }
        case "-p":
            return value.lowercased()
        default:
            return value
        }
    }

    /// Each module's options in the order its save function prints them.
    static func saveOptions(_ module: String, _ options: [[String]], family: IPFamily) -> [String] {
        func named(_ name: String) -> [String]? {
            options.first { $0.drop { $0 == "!" }.first == name }
        }
        switch module {
        case "comment":
            return (named("--comment") ?? []).enumerated().map { $0.offset == 0 ? $0.element : IPTablesQuoting.saved($0.element) }
        case "statistic":
            var out = named("--mode") ?? []
            if let p = named("--probability"), let v = Double(p.last!) {
                // libxt_statistic stores lround(p * 2^31) and prints it back with %.11f.
                let threshold = (v * 2_147_483_648).rounded()
                out += Array(p.dropLast()) + [String(format: "%.11f", threshold / 2_147_483_648)]
            }
            for k in ["--every", "--packet"] { out += named(k) ?? [] }
            return out
        case "recent":
            // libxt_recent: the command, --seconds, --reap, --hitcount, --rttl, --name, --mask,
            // then --rsource or --rdest (the defaults are printed too).
            var out: [String] = []
            for k in ["--set", "--rcheck", "--update", "--remove"] { out += named(k) ?? [] }
            for k in ["--seconds", "--reap", "--hitcount", "--rttl"] { out += named(k) ?? [] }
            out += named("--name") ?? ["--name", "DEFAULT"]
            out += named("--mask") ?? ["--mask", family == .ipv4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
            out += named("--rdest") ?? ["--rsource"]
            return out
        case "conntrack":
            return options.flatMap { opt -> [String] in
                guard let k = opt.drop(while: { $0 == "!" }).first, k == "--ctstate" else { return opt }
                // libxt_conntrack prints states in its own order.
                let order = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"]
                let states = Set(opt.last!.split(separator: ",").map(String.init))
                return Array(opt.dropLast()) + [order.filter(states.contains).joined(separator: ",")]
            }
        case "mark":
            return options.flatMap { opt in Array(opt.dropLast()) + [markText(opt.last!)] }
        case "ipvs":
            // libxt_ipvs ipvs_mt_dump: --ipvs, --vproto as a number, --vaddr without a full-length
            // mask, --vport, --vdir, --vmethod, --vportctl.
            var out: [String] = []
            for k in ["--ipvs", "--vproto", "--vaddr", "--vport", "--vdir", "--vmethod", "--vportctl"] {
                guard var opt = named(k) else { continue }
                if k == "--vproto", let p = try? IPProtocol(parsing: opt.last!) { opt[opt.count - 1] = String(p.rawValue) }
                if k == "--vaddr", let prefix = try? Prefix(parsing: opt.last!, sloppy: true, allowHostBits: true, allowBareAddress: true) {
                    opt[opt.count - 1] = prefix.length == prefix.family.bitWidth ? prefix.network.description : prefix.description
                }
                out += opt
            }
            return out
        default:
            return options.flatMap { $0 }
        }
    }

    /// `0x4000/0x4000`; a mask of all ones is left out.
    static func markText(_ text: String) -> String {
        let parts = text.split(separator: "/")
        guard let v = parseNumber(String(parts[0])) else { return text }
        let m = parts.count > 1 ? parseNumber(String(parts[1])) : nil
        if let m, m != 0xFFFF_FFFF { return "0x" + String(v, radix: 16) + "/0x" + String(m, radix: 16) }
        return "0x" + String(v, radix: 16)
    }

    static func parseNumber(_ s: String) -> UInt32? {
        s.hasPrefix("0x") || s.hasPrefix("0X") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
    }

    static func saveTarget(_ target: [String], family: IPFamily) -> [String] {
        guard target.count >= 2 else { return target }
        let name = target[1], args = Array(target.dropFirst(2))
        switch name {
        case "MARK":
            // libxt_MARK (revision 2) prints every operation as --set-xmark value/mask.
            guard args.count >= 2, let v = parseNumber(String(args[1].split(separator: "/")[0])) else { return target }
            let given = args[1].split(separator: "/").dropFirst().first.flatMap { parseNumber(String($0)) }
            let (value, mask): (UInt32, UInt32) = switch args[0] {
            case "--or-mark": (v, v)
            case "--xor-mark": (v, 0)
            case "--and-mark": (0, ~v)
            case "--set-mark": (v, given ?? 0xFFFF_FFFF)
            default: (v, given ?? 0xFFFF_FFFF)
            }
            return ["-j", "MARK", "--set-xmark", "0x\(String(value, radix: 16))/0x\(String(mask, radix: 16))"]
        case "REJECT" where args.isEmpty:
            return target + ["--reject-with", family == .ipv4 ? "icmp-port-unreachable" : "icmp6-port-unreachable"]
        default:
            return target
        }
    }
}
