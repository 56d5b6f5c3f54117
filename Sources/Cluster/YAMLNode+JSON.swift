import Yams

/// Writes a composed YAML document as JSON with the meaning kdp's decoders give it: plain
/// `null`, `~` and empty values become `null`, plain `true`/`false` and whole numbers stay bare,
/// every other scalar (quoted or not) becomes a JSON string. `kdp generate -o json` uses it, and
/// the tests that check the JSON path reads every shipped topology as the YAML path does.
enum YAMLNodeJSON {
    static func write(_ node: Yams.Node, indent: Int = 0, to out: inout some TextOutputStream) {
        let pad = String(repeating: " ", count: indent + 2)
        switch node {
        case .mapping(let map):
            guard !map.isEmpty else { out.write("{}"); return }
            out.write("{\n")
            for (k, (key, value)) in map.enumerated() {
                out.write(pad)
                writeString(key.scalar?.string ?? "", to: &out)
                out.write(": ")
                write(value, indent: indent + 2, to: &out)
                out.write(k + 1 < map.count ? ",\n" : "\n")
            }
            out.write(String(repeating: " ", count: indent) + "}")
        case .sequence(let seq):
            guard !seq.isEmpty else { out.write("[]"); return }
            out.write("[\n")
            for (k, item) in seq.enumerated() {
                out.write(pad)
                write(item, indent: indent + 2, to: &out)
                out.write(k + 1 < seq.count ? ",\n" : "\n")
            }
            out.write(String(repeating: " ", count: indent) + "]")
        case .scalar(let s):
            if s.style == .plain {
                switch s.string {
                case "", "~", "null", "Null", "NULL": out.write("null"); return
                case "true", "false": out.write(s.string); return
                default:
                    if isWholeNumber(s.string) { out.write(s.string); return }
                }
            }
            writeString(s.string, to: &out)
        case .alias:
            out.write("null")
        }
    }

    static func isWholeNumber(_ s: String) -> Bool {
        let digits = s.utf8.drop { $0 == UInt8(ascii: "-") && s.utf8.first == $0 }
        guard let first = digits.first, digits.count < 19, digits.count + 1 >= s.utf8.count,
              digits.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else { return false }
        return first != UInt8(ascii: "0") || digits.count == 1
    }

    static func writeString(_ s: String, to out: inout some TextOutputStream) {
        var text = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            case "\r": text += "\\r"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: text.unicodeScalars.append(u)
            }
        }
        out.write(text + "\"")
    }
}

extension TopologyGenerator {
    /// The generated topology as JSON: the same document `write` produces, for measuring and
    /// testing the JSON reader on a large input. Composes the YAML first (seconds at 150,000 pods).
    public static func writeJSON(_ spec: Spec, to out: inout some TextOutputStream) throws(InputError) {
        let yaml = text(spec)
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: yaml, .basic) } catch {
            throw InputError("generated topology does not compose: \(error)")
        }
        YAMLNodeJSON.write(node ?? .mapping(.init([])), to: &out)
        out.write("\n")
    }
}
