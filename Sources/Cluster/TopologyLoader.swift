import Foundation
import Yams

/// Reads `--topology` paths (files, or folders of `.yaml`/`.yml`/`.json` files in name order)
/// into one `TopologyInput`; with no paths, the embedded default topology.
public enum TopologyLoader {
    /// The default topology's name in messages.
    public static let embeddedName = "<embedded topologies/demo.yaml>"

    /// The text of `topologies/demo.yaml` as compiled into the binary.
    public static var embeddedDefault: String { String(decoding: PackageResources.demo_yaml, as: UTF8.self) }

    public static func load(paths: [String]) throws(InputError) -> TopologyInput {
        if paths.isEmpty { return try parse(text: embeddedDefault, file: embeddedName) }
        var input = TopologyInput()
        for path in paths {
            for file in try files(at: path) {
                let text: String
                do {
                    let data = try Data(contentsOf: URL(fileURLWithPath: file))
                    guard let s = String(data: data, encoding: .utf8) else { throw InputError("not UTF-8 text", at: InputLocation(file: file)) }
                    text = s
                } catch let e as InputError { throw e } catch {
                    throw InputError("cannot read: \(error.localizedDescription)", at: InputLocation(file: file))
                }
                try input.merge(try parse(text: text, file: file))
            }
        }
        return input
    }

    static func files(at path: String) throws(InputError) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw InputError("no such file or folder", at: InputLocation(file: path))
        }
        guard isDir.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let picked = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }.sorted()
        guard !picked.isEmpty else { throw InputError("folder has no .yaml, .yml or .json files", at: InputLocation(file: path)) }
        return picked.map { (path as NSString).appendingPathComponent($0) }
    }

    /// Parses one file's text: any number of YAML documents, or one JSON document (first
    /// character `{` or `[`), which `JSONScanner` reads.
    public static func parse(text: String, file: String) throws(InputError) -> TopologyInput {
        if JSONScanner.looksLikeJSON(text), let input = try parseJSON(text: text, file: file) { return input }
        var input = TopologyInput()
        do {
            // Tags are never read (numbers and booleans are parsed by `YAMLValue`), so skip the
            // regular-expression tag resolution that dominates parse time on large inputs.
            var docs = try Yams.compose_all(yaml: text, .basic)
            while let doc = docs.next() {
                try ManifestDecoder.decode(YAMLValue(node: doc, file: file), into: &input)
            }
            if let error = docs.error { throw error }
            placeExtraRules(&input, text: text)
        } catch let e as InputError {
            throw e
        } catch let e as YamlError {
            throw yamlError(e, file: file)
        } catch {
            throw InputError("cannot parse: \(error)", at: InputLocation(file: file))
        }
        return input
    }

    /// Sets the column where each node's `extraRules` block starts: the indentation of its first
    /// non-blank line, which the YAML node does not keep. Only blocks of this file (column 0).
    static func placeExtraRules(_ input: inout TopologyInput, text: String) {
        guard input.nodes.contains(where: { !$0.extraRules.isEmpty }) else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for n in input.nodes.indices {
            for k in input.nodes[n].extraRules.indices where input.nodes[n].extraRules[k].location.column == 0 {
                let place = input.nodes[n].extraRules[k].location
                var line = place.line
                while line <= lines.count, lines[line - 1].allSatisfy({ $0 == " " || $0 == "\r" }) { line += 1 }
                let indent = line <= lines.count ? lines[line - 1].prefix { $0 == " " }.count : 0
                input.nodes[n].extraRules[k].location = InputLocation(file: place.file, line: place.line, column: indent + 1)
            }
        }
    }

    /// libyaml's error, reduced to its problem and position.
    static func yamlError(_ e: YamlError, file: String) -> InputError {
        switch e {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let why = context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem
            return InputError("invalid YAML: \(why)", at: InputLocation(file: file, line: mark.line, column: mark.column))
        case .reader(let problem, let offset, _, _):
            return InputError("invalid YAML: \(problem)\(offset.map { " at byte \($0)" } ?? "")", at: InputLocation(file: file))
        case .duplicatedKeysInMapping(let dups, let context):
            return InputError("duplicate keys \(dups.joined(separator: ", "))",
                              at: InputLocation(file: file, line: context.mark.line, column: context.mark.column))
        default:
            return InputError("invalid YAML: \(e)", at: InputLocation(file: file))
        }
    }
}
