import IPVS

/// Renders a scenario run: the JSON shape, or a readable log.
public enum ScenarioRender {
    /// JSON string literal with the escapes RFC 8259 requires.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    public static func json(_ r: ScenarioResult) -> String {
        switch r {
        case .connect(let client, let server, let outcome):
            return "{\"op\": \"connect\", \"client\": \(jsonString(client)), \"server\": \(server.map(jsonString) ?? "null"), \"result\": \(jsonString(outcome.rawValue))}"
        case .counts(let list):
            let body = list.map { "\(jsonString($0.server)): {\"active\": \($0.counts.active), \"inactive\": \($0.counts.inactive), \"persist\": \($0.counts.persist)}" }
            return "{\"op\": \"check_counts\", \"counts\": {" + body.joined(separator: ", ") + "}}"
        case .done(let op):
            return "{\"op\": \(jsonString(op))}"
        }
    }

    /// `{"results": [...], "ipvsadm_Ln": "...", "ipvsadm_Sn": "..."}`, one result per line.
    public static func json(_ run: ScenarioRun) -> String {
        var out = "{\n  \"results\": ["
        out += run.results.isEmpty ? "" : "\n" + run.results.map { "    " + json($0) }.joined(separator: ",\n") + "\n  "
        out += "],\n"
        out += "  \"ipvsadm_Ln\": " + jsonString(IPVSAdm.list(run.table)) + ",\n"
        out += "  \"ipvsadm_Sn\": " + jsonString(IPVSAdm.save(run.table)) + "\n}\n"
        return out
    }

    /// The log, then `ipvsadm -Ln` and `ipvsadm -Lnc` at the end.
    public static func text(_ run: ScenarioRun) -> String {
        var out = run.log.joined(separator: "\n") + "\n\n# ipvsadm -Ln\n" + IPVSAdm.list(run.table)
        out += "\n# ipvsadm -Lnc\n" + IPVSAdm.listConnections(run.table)
        return out
    }
}
