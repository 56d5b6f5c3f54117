import Wire
import Yams

/// A YAML node together with the file it came from. Every accessor checks the node's shape and
/// throws an `InputError` naming the file, line and column, so decoders never lose the place.
struct YAMLValue {
    let node: Yams.Node
    let file: String

    var location: InputLocation {
        InputLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    func error(_ message: String) -> InputError { InputError(message, at: location) }

    /// True for an explicit null (`~`, `null`, or an empty value).
    var isNull: Bool {
        guard case .scalar(let s) = node else { return false }
        return s.style == .plain && (s.string.isEmpty || s.string == "~" || s.string == "null" || s.string == "Null")
    }

    private var kindName: String {
        switch node {
        case .scalar: "a value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    func string(_ what: String) throws(InputError) -> String {
        guard case .scalar(let s) = node else { throw error("\(what) must be a string, found \(kindName)") }
        return s.string
    }

    func int(_ what: String) throws(InputError) -> Int {
        guard case .scalar(let s) = node, let n = Int(s.string.trimmingSpaces) else {
            throw error("\(what) must be a whole number, found \(describe)")
        }
        return n
    }

    func int<T: FixedWidthInteger>(_ what: String, in range: ClosedRange<T>) throws(InputError) -> T {
        let n = try int(what)
        guard n >= Int(range.lowerBound), n <= Int(range.upperBound) else {
            throw error("\(what) must be \(range.lowerBound)-\(range.upperBound), found \(n)")
        }
        return T(n)
    }

    func port(_ what: String) throws(InputError) -> UInt16 { try int(what, in: 1...65535) }

    func bool(_ what: String) throws(InputError) -> Bool {
        guard case .scalar(let s) = node else { throw error("\(what) must be true or false, found \(kindName)") }
        switch s.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("\(what) must be true or false, found \"\(s.string)\"")
        }
    }

    func sequence(_ what: String) throws(InputError) -> [YAMLValue] {
        if isNull { return [] }
        guard case .sequence(let seq) = node else { throw error("\(what) must be a list, found \(kindName)") }
        return seq.map { YAMLValue(node: $0, file: file) }
    }

    func object(_ what: String) throws(InputError) -> YAMLObject {
        if isNull { return YAMLObject(value: self, entries: []) }
        guard case .mapping(let map) = node else { throw error("\(what) must be a mapping, found \(kindName)") }
        var entries: [(key: String, keyValue: YAMLValue, value: YAMLValue)] = []
        entries.reserveCapacity(map.count)
        for (k, v) in map {
            let key = YAMLValue(node: k, file: file)
            guard case .scalar(let ks) = k else { throw key.error("keys in \(what) must be strings") }
            entries.append((ks.string, key, YAMLValue(node: v, file: file)))
        }
        return YAMLObject(value: self, entries: entries)
    }

    /// A map of strings to strings, such as labels or a selector.
    func stringMap(_ what: String) throws(InputError) -> [String: String] {
        let obj = try object(what)
        var out: [String: String] = [:]
        for e in obj.entries {
            guard case .scalar(let s) = e.value.node else { throw e.value.error("\(what).\(e.key) must be a string") }
            out[e.key] = s.string
        }
        return out
    }

    /// A list of strings, also accepting one comma-separated string (as component flags do).
    func stringList(_ what: String) throws(InputError) -> [String] {
        if case .scalar(let s) = node {
            if isNull { return [] }
            return s.string.split(separator: ",").map { String($0).trimmingSpaces }
        }
        return try sequence(what).map { v throws(InputError) in try v.string(what) }
    }

    func ip(_ what: String) throws(InputError) -> IPAddress {
        let text = try string(what).trimmingSpaces
        do { return try IPAddress(sloppy: text) } catch { throw self.error("\(what): \(error)") }
    }

    func prefix(_ what: String, allowHostBits: Bool = false) throws(InputError) -> Prefix {
        let text = try string(what).trimmingSpaces
        do { return try Prefix(parsing: text, sloppy: true, allowHostBits: allowHostBits) } catch {
            throw self.error("\(what): \(error)")
        }
    }

    private var describe: String {
        if case .scalar(let s) = node { return "\"\(s.string)\"" }
        return kindName
    }
}

/// A YAML mapping's entries in file order, with typed lookups by key.
struct YAMLObject {
    let value: YAMLValue
    let entries: [(key: String, keyValue: YAMLValue, value: YAMLValue)]

    var location: InputLocation { value.location }

    /// The value under `key`, or nil when absent or null. Compares keys in place: `for e in
    /// entries` copied (retained and released) every entry it passed; this lookup was 17% of
    /// `kdp cluster` on the large JSON cluster with it, 13% without.
    subscript(key: String) -> YAMLValue? {
        for i in entries.indices where entries[i].key == key {
            return entries[i].value.isNull ? nil : entries[i].value
        }
        return nil
    }

    func required(_ key: String, in what: String) throws(InputError) -> YAMLValue {
        guard let v = self[key] else { throw value.error("\(what) needs \"\(key)\"") }
        return v
    }

    func object(_ key: String, in what: String) throws(InputError) -> YAMLObject? {
        try self[key]?.object("\(what).\(key)")
    }

    /// Rejects keys a strict (kdp-format) reader does not know, naming the key and its place,
    /// so that a typo is an error rather than a silently ignored setting.
    func rejectUnknownKeys(_ allowed: Set<String>, in what: String) throws(InputError) {
        for e in entries where !allowed.contains(e.key) {
            let known = allowed.sorted().joined(separator: ", ")
            throw e.keyValue.error("unknown key \"\(e.key)\" in \(what) (known: \(known))")
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
