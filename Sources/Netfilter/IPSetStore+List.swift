import Wire

/// The two texts `ipset` prints for a host's sets: `ipset save` (`create`/`add` lines) and
/// `ipset list` (a block per set: `Name:`, `Type:`, `Header:`, ..., `Members:`, one member a
/// line, a blank line between sets).
public enum IPSetTextFormat: String, Sendable {
    case save = "ipset save"
    case list = "ipset list"

    /// From the first line that is neither blank nor a comment: `Name:` starts a listing.
    /// - Complexity: O(k) in the bytes up to that line (`firstContentLine`).
    public static func detect(_ text: String) -> IPSetTextFormat {
        text.firstContentLine?.hasPrefix("Name:") == true ? .list : .save
    }
}

extension IPSetStore {
    /// Parses either text (`IPSetTextFormat.detect`).
    public static func parse(ipsetText text: String) throws(IPSetParseError) -> IPSetStore {
        switch IPSetTextFormat.detect(text) {
        case .save: try parse(ipsetSave: text)
        case .list: try parse(ipsetList: text)
        }
    }

    /// Parses `ipset list` output as ipset's list_set (lib/session.c) prints it: `Name:`,
    /// `Type:`, `Revision:`, `Header:` (its `family inet6` gives the family; bitmap:port has
    /// none and is taken as inet, as for `ipset save`), `Size in memory:`, `References:`,
    /// `Number of entries:`, `Members:`, then the members as `ipset save` spells them (with their
    /// `nomatch`, `timeout`, counters and comment after them). The members must number what
    /// `Number of entries` says: fewer is a cut paste. `ipset list -t` (no members) is refused.
    public static func parse(ipsetList text: String) throws(IPSetParseError) -> IPSetStore {
        var store = IPSetStore()
        var lineNo = 0
        // The set being read: its name, type and family, the line of `Name:`, whether its
        // members have started, and how many the header announced.
        var name: String?, type: IPSetType?, family = IPFamily.ipv4
        var nameLine = 0, inMembers = false, announced: Int?, members = 0
        func finish() throws(IPSetParseError) {
            guard let n = name else { return }
            guard inMembers else {
                throw IPSetParseError(line: nameLine, word: n, reason: "set has no Members: section (ipset list -t?): paste ipset list or ipset save")
            }
            if let announced, announced != members {
                throw IPSetParseError(line: lineNo, word: n, reason: "set lists \(members) members but its header says Number of entries: \(announced) (a cut paste?)")
            }
            name = nil; type = nil; family = .ipv4; inMembers = false; announced = nil; members = 0
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { if inMembers { try finish() }; continue }
            if line.hasPrefix("#") && !inMembers { continue }
            if line.hasPrefix("Name: ") {
                try finish()
                let n = String(line.dropFirst(6))
                guard !n.isEmpty, n.utf8.count <= 31, !n.contains(" ") else {
                    throw IPSetParseError(line: lineNo, word: n, reason: "set name is 1 to 31 characters without blanks")
                }
                guard store.sets[n] == nil else { throw IPSetParseError(line: lineNo, word: n, reason: "set listed twice") }
                name = n
                nameLine = lineNo
                continue
            }
            guard let n = name else {
                throw IPSetParseError(line: lineNo, word: String(line.prefix(40)), reason: "expected 'Name: SET' (ipset list output)")
            }
            if inMembers {
                guard let t = type else { throw IPSetParseError(line: lineNo, word: n, reason: "set has no Type: line") }
                let w = line.split(separator: " ")
                guard let element = w.first else { throw IPSetParseError(line: lineNo, word: n, reason: "blank member line") }
                if t == .listSet {
                    try store.addToList(n, member: String(element), line: lineNo)
                    members += 1
                    continue
                }
                var m = try member(String(element), type: t, line: lineNo)
                m.nomatch = w.dropFirst().contains("nomatch")
                store.sets[n]!.add(m)
                members += 1
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                throw IPSetParseError(line: lineNo, word: String(line.prefix(40)), reason: "expected a 'Field: value' line of set \(n)")
            }
            let field = line[..<colon]
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            switch field {
            case "Type":
                guard let t = IPSetType(rawValue: String(value)) else {
                    throw IPSetParseError(line: lineNo, word: String(value), reason: "set type not emulated")
                }
                type = t
            case "Header":
                let h = value.split(separator: " ")
                if let i = h.firstIndex(of: "family"), i + 1 < h.count {
                    switch h[i + 1] {
                    case "inet": family = .ipv4
                    case "inet6": family = .ipv6
                    default: throw IPSetParseError(line: lineNo, word: String(h[i + 1]), reason: "family is inet or inet6")
                    }
                }
            case "Number of entries":
                guard let c = Int(value), c >= 0 else { throw IPSetParseError(line: lineNo, word: String(value), reason: "bad number of entries") }
                announced = c
            case "Members":
                guard let t = type else { throw IPSetParseError(line: lineNo, word: n, reason: "set has no Type: line") }
                store.sets[n] = IPSet(name: n, type: t, family: family)
                inMembers = true
            case "Revision", "Size in memory", "References":
                break
            default:
                throw IPSetParseError(line: lineNo, word: String(field), reason: "unknown field of ipset list")
            }
        }
        try finish()
        return store
    }
}
