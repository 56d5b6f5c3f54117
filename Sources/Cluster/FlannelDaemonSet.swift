import Wire

/// What flannel's DaemonSet (`kube-flannel-ds`, as kube-flannel.yml names it) says about
/// flanneld's flags: the container that runs `flanneld` (named `kube-flannel` in
/// kube-flannel.yml), its `command` and `args`, read as Go's flag package reads them
/// (`--ip-masq`, `--ip-masq=false`, one or two dashes). Flags left out keep flanneld's defaults
/// (`--ip-masq` false, `--iptables-forward-rules` true). A dump that carries the DaemonSet
/// thus states what kdp otherwise assumes.
public struct FlannelDaemonSetFlags: Sendable, Equatable {
    public var ipMasq = false
    public var ipMasqRandomFullyDisable = false
    public var iptablesForwardRules = true
    /// `namespace/name` of the DaemonSet, for notes.
    public var name: String
    public var location: InputLocation?

    public init(name: String, location: InputLocation? = nil) {
        self.name = name
        self.location = location
    }

    /// The fields as `kdp cluster` lists them.
    public var fieldsText: String {
        "ipMasq \(ipMasq), ipMasqRandomFullyDisable \(ipMasqRandomFullyDisable), iptablesForwardRules \(iptablesForwardRules)"
    }

    /// Applies the flags to flannel's settings.
    public func apply(to f: inout FlannelSettings) {
        f.ipMasq = ipMasq
        f.ipMasqRandomFullyDisable = ipMasqRandomFullyDisable
        f.iptablesForwardRules = iptablesForwardRules
    }
}

enum FlannelDaemonSetDecoder {
    static let name = "kube-flannel-ds"

    /// The flags of the DaemonSet's flanneld container; nil when no container runs flanneld.
    static func decode(_ obj: YAMLObject, meta: ManifestDecoder.Meta) throws(InputError) -> FlannelDaemonSetFlags? {
        let spec = try obj.object("spec", in: "DaemonSet")
        let template = try spec?.object("template", in: "DaemonSet spec")
        let podSpec = try template?.object("spec", in: "DaemonSet spec.template")
        for c in try podSpec?["containers"]?.sequence("spec.template.spec.containers") ?? [] {
            let container = try c.object("container")
            let command = try container["command"]?.sequence("command").map { v throws(InputError) in try v.string("command") } ?? []
            let args = try container["args"]?.sequence("args").map { v throws(InputError) in try v.string("args") } ?? []
            let containerName = try container["name"]?.string("container name")
            guard command.contains(where: { $0.hasSuffix("flanneld") }) || containerName == "kube-flannel" else { continue }
            var flags = FlannelDaemonSetFlags(name: "\(meta.namespace)/\(meta.name)", location: c.location)
            for word in command + args {
                guard let (flag, value) = flag(word) else { continue }
                switch flag {
                case "ip-masq": flags.ipMasq = try bool(value, flag, at: c)
                case "ip-masq-fully-random-disable": flags.ipMasqRandomFullyDisable = try bool(value, flag, at: c)
                case "iptables-forward-rules": flags.iptablesForwardRules = try bool(value, flag, at: c)
                default: continue
                }
            }
            return flags
        }
        return nil
    }

    /// `--name[=value]` or `-name[=value]`: the name and the value after `=` (nil without one).
    static func flag(_ word: String) -> (String, String?)? {
        var w = Substring(word)
        guard w.hasPrefix("-") else { return nil }
        w = w.dropFirst(w.hasPrefix("--") ? 2 : 1)
        guard let eq = w.firstIndex(of: "=") else { return (String(w), nil) }
        return (String(w[..<eq]), String(w[w.index(after: eq)...]))
    }

    /// A boolean flag's value as Go's `strconv.ParseBool` reads it; no value means true.
    static func bool(_ value: String?, _ flag: String, at v: YAMLValue) throws(InputError) -> Bool {
        guard let value else { return true }
        switch value {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: throw v.error("flanneld --\(flag) takes true or false, found \"\(Excerpt.quote(value))\"")
        }
    }
}
