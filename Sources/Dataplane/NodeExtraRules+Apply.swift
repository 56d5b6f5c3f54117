import Cluster
import Netfilter
import Wire

extension NodeExtraRules {
    /// The node's ruleset with this text applied on top, as `iptables-restore --noflush` would
    /// apply it after kube-proxy and flanneld (`Ruleset.applying`). A mistake is an `InputError`
    /// at its line and column in the topology file, naming the node and the key.
    func apply(onto ruleset: Ruleset, node: String) throws(InputError) -> Ruleset {
        do {
            return try ruleset.applying(text, file: location.file, origin: (location.file, location.line))
        } catch {
            let key = NodeExtraRules.key(family)
            throw InputError("node \(node) \(key): \(error.reason): '\(Excerpt.quote(error.word))'",
                             at: location(line: error.line, word: error.word))
        }
    }
}

extension Dataplane {
    /// Builds every node's rules that carry a topology's `extraRules`, so that a mistake in them
    /// is bad input (exit 2, at its line in the topology) before any packet is traced, rather
    /// than a drop on the first packet that reaches the node. Commands that trace call it once.
    /// Cost: compiling those nodes now instead of on first use (they are cached either way).
    public func checkExtraRules() throws(InputError) {
        for host in nodes {
            for extra in host.node.extraRules {
                let key = NodeExtraRules.key(extra.family)
                guard cluster.settings.families.contains(extra.family) else {
                    throw InputError("node \(host.node.name) has \(key), but the cluster has no \(extra.family.rawValue) (its clusterCIDR)",
                                     at: extra.keyLocation ?? InputLocation(file: extra.location.file))
                }
                guard host.node.internalIP(extra.family) != nil else {
                    throw InputError("node \(host.node.name) has \(key), but no \(extra.family.rawValue) address",
                                     at: extra.keyLocation ?? InputLocation(file: extra.location.file))
                }
                do { _ = try host.tracer(for: extra.family) } catch let e as InputError { throw e } catch {
                    throw InputError("node \(host.node.name): kdp could not build its rules: \(error)", at: host.node.location)
                }
            }
        }
    }
}
