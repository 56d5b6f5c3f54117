import Foundation
import Netlink
import Wire

extension NodeSnapshot {
    /// Reads the snapshot directory `path`. `meta.json`, `links.json`, `addresses.json` and
    /// `routes.json` are required; the dumps and `neighbours.json` are read when present. Every
    /// problem is a `SnapshotError` naming the file and, for an entry, its line: malformed JSON,
    /// a field of the wrong type, an address that does not parse, an address or route on a link
    /// the snapshot does not have.
    public static func read(from path: String) throws(SnapshotError) -> NodeSnapshot {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SnapshotError(file: path, "no such directory (make one with kdp snapshot -o DIR)")
        }
        guard isDirectory.boolValue else { throw SnapshotError(file: path, "not a directory: a snapshot is a directory made by kdp snapshot") }
        let dir = URL(fileURLWithPath: path)
        func name(_ f: SnapshotFile) -> String { dir.appendingPathComponent(f.rawValue).path }
        func text(_ f: SnapshotFile, required: Bool) throws(SnapshotError) -> String? {
            let p = name(f)
            guard FileManager.default.fileExists(atPath: p) else {
                if required { throw SnapshotError(file: p, "missing: a snapshot holds \(SnapshotFile.required.map(\.rawValue).joined(separator: ", ")) (README: Snapshot directories)") }
                return nil
            }
            guard let data = FileManager.default.contents(atPath: p) else { throw SnapshotError(file: p, "cannot be read") }
            guard let s = String(data: data, encoding: .utf8) else { throw SnapshotError(file: p, "is not UTF-8 text") }
            return s
        }
        let metaText = try text(.meta, required: true)!
        let meta: SnapshotMeta
        do { meta = try JSONDecoder().decode(SnapshotMeta.self, from: Data(metaText.utf8)) } catch {
            throw Self.decodingError(error, file: name(.meta), text: metaText, entries: false)
        }
        guard meta.format == 1 else { throw SnapshotError(file: name(.meta), line: Self.line(of: "\"format\"", in: metaText), "format \(meta.format) is not one this kdp reads (1)") }
        let linksText = try text(.links, required: true)!
        let addressesText = try text(.addresses, required: true)!
        let routesText = try text(.routes, required: true)!
        let neighboursText = try text(.neighbours, required: false)
        let linkRecords: [LinkRecord] = try decode(.links, linksText, name(.links))
        let addressRecords: [AddressRecord] = try decode(.addresses, addressesText, name(.addresses))
        let routeRecords: [RouteRecord] = try decode(.routes, routesText, name(.routes))
        var neighbourRecords: [NeighbourRecord] = []
        if let neighboursText { neighbourRecords = try decode(.neighbours, neighboursText, name(.neighbours)) }

        let links = try typed(linkRecords, file: name(.links), text: linksText) { r throws(RecordError) in try r.typed() }
        var indexes = Set<Int>(), names = Set<String>()
        let linkLines = Self.entryLines(linksText)
        for (k, l) in links.enumerated() {
            guard indexes.insert(l.index).inserted else { throw SnapshotError(file: name(.links), line: k < linkLines.count ? linkLines[k] : 0, "index \(l.index) appears twice") }
            guard names.insert(l.name).inserted else { throw SnapshotError(file: name(.links), line: k < linkLines.count ? linkLines[k] : 0, "name \(l.name) appears twice") }
        }
        let addresses = try typed(addressRecords, file: name(.addresses), text: addressesText) { r throws(RecordError) in
            let a = try r.typed()
            guard indexes.contains(a.interfaceIndex) else { throw RecordError("ifindex \(a.interfaceIndex) is not a link in links.json") }
            return a
        }
        let routes = try typed(routeRecords, file: name(.routes), text: routesText) { r throws(RecordError) in
            let route = try r.typed()
            for h in route.nextHops {
                if let i = h.interfaceIndex, !indexes.contains(i) { throw RecordError("next hop ifindex \(i) is not a link in links.json") }
            }
            return route
        }
        let neighbours = try typed(neighbourRecords, file: name(.neighbours), text: neighboursText ?? "") { r throws(RecordError) in try r.typed() }
        return NodeSnapshot(links: links, addresses: addresses, routes: routes, neighbours: neighbours,
                            iptablesRules: try text(.iptables, required: false), ip6tablesRules: try text(.ip6tables, required: false),
                            ipsets: try text(.ipsets, required: false), ipvs: try text(.ipvs, required: false), meta: meta)
    }

    private static func decode<T: Decodable>(_ file: SnapshotFile, _ text: String, _ path: String) throws(SnapshotError) -> [T] {
        do { return try JSONDecoder().decode([T].self, from: Data(text.utf8)) } catch {
            throw decodingError(error, file: path, text: text, entries: true)
        }
    }

    private static func typed<R, T>(_ records: [R], file: String, text: String, _ convert: (R) throws(RecordError) -> T) throws(SnapshotError) -> [T] {
        let lines = entryLines(text)
        var out: [T] = []
        out.reserveCapacity(records.count)
        for (k, r) in records.enumerated() {
            do { out.append(try convert(r)) } catch {
                throw SnapshotError(file: file, line: k < lines.count ? lines[k] : 0, "entry \(k + 1): \(error.message)")
            }
        }
        return out
    }

    /// A JSONDecoder error as a message: the entry (and its line) a type error is in, or the
    /// decoder's own text for malformed JSON (which names the line).
    static func decodingError(_ error: Error, file: String, text: String, entries: Bool) -> SnapshotError {
        let lines = entryLines(text)
        func located(_ path: [CodingKey], _ what: String) -> SnapshotError {
            let keys = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            if entries, let k = path.first?.intValue, k < lines.count {
                let field = keys.dropFirst().joined(separator: ".")
                return SnapshotError(file: file, line: lines[k], "entry \(k + 1): \(field.isEmpty ? "" : field + ": ")\(what)")
            }
            return SnapshotError(file: file, "\(keys.isEmpty ? "" : keys.joined(separator: ".") + ": ")\(what)")
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let ctx)?: return located(ctx.codingPath, "'\(key.stringValue)' is missing")
        case .typeMismatch(let type, let ctx)?: return located(ctx.codingPath, "expected \(type == [Any].self || "\(type)".hasPrefix("Array") ? "an array" : "a \(type)")")
        case .valueNotFound(let type, let ctx)?: return located(ctx.codingPath, "null where a \(type) belongs")
        case .dataCorrupted(let ctx)?:
            if ctx.codingPath.isEmpty {
                // JSONDecoder does not say where; JSONSerialization gives the byte offset.
                var what = "not valid JSON"
                var line = 0, column = 0
                do { _ = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) } catch {
                    let d = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
                    if let r = d.range(of: " around character "), let offset = Int(d[r.upperBound...].prefix { $0.isNumber }) {
                        let before = text.utf8.prefix(offset)
                        line = before.count { $0 == UInt8(ascii: "\n") } + 1
                        column = before.count - (before.lastIndex(of: UInt8(ascii: "\n")).map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
                        what += " (\(d[..<r.lowerBound].lowercased()))"
                    }
                }
                return SnapshotError(file: file, line: line, column: column, what)
            }
            return located(ctx.codingPath, ctx.debugDescription)
        default: return SnapshotError(file: file, "cannot be read: \(error)")
        }
    }

    /// The line (from 1) each top-level array entry starts on: a scan of the text that skips
    /// strings, so an entry's line is found however the file is laid out.
    static func entryLines(_ text: String) -> [Int] {
        var lines: [Int] = []
        var line = 1, depth = 0, inString = false, escaped = false, expecting = false
        for c in text.utf8 {
            if c == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if expecting, depth == 1, c != UInt8(ascii: " "), c != UInt8(ascii: "\n"), c != UInt8(ascii: "\t"), c != UInt8(ascii: "\r"), c != UInt8(ascii: "]") {
                lines.append(line)
                expecting = false
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { expecting = true }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expecting = true }
            default: break
            }
        }
        return lines
    }

    static func line(of needle: String, in text: String) -> Int {
        var n = 1
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if l.contains(needle) { return n }
            n += 1
        }
        return 0
    }
}

extension SnapshotFile {
    static let required: [SnapshotFile] = [.meta, .links, .addresses, .routes]
}
