import Yams

extension TopologyLoader {
    /// Reads a JSON document with `JSONScanner` instead of libyaml: the same nodes and marks,
    /// faster on a large dump (`JSONScanner`). A `.json` file must be JSON. Another file that starts
    /// like JSON but is not (YAML flow style, `{kind: Pod}`) returns nil, and the caller reads it
    /// as YAML; text that is neither gets the JSON error, which says more than libyaml's would.
    static func parseJSON(text: String, file: String) throws(InputError) -> TopologyInput? {
        let document: Yams.Node
        do {
            document = try JSONScanner.parse(text)
        } catch {
            if !file.lowercased().hasSuffix(".json"), composesAsYAML(text) { return nil }
            throw InputError("invalid JSON: \(error.message)", at: InputLocation(file: file, line: error.line, column: error.column))
        }
        var input = TopologyInput()
        try ManifestDecoder.decode(YAMLValue(node: document, file: file), into: &input)
        placeExtraRules(&input, text: text)
        return input
    }

    private static func composesAsYAML(_ text: String) -> Bool {
        guard var docs = try? Yams.compose_all(yaml: text, .basic) else { return false }
        while docs.next() != nil {}
        return docs.error == nil
    }
}
