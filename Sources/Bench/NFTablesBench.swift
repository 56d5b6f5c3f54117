import Cluster
import Foundation
import KubeProxy

/// `compile.nftables`: kube-proxy's nftables mode for the measured node, one full sync
/// (`NFTablesCompiler.compile`, then the transaction text knftables would hand `nft -f`), best
/// of three. Target: at most 0.2 s for 10,000 Services × 2 endpoints (issue 17).
public enum NFTablesBench {
    public static func compile(_ cluster: Cluster) -> BenchResult {
        let node = cluster.nodes[1]
        let (config, options, _) = NFTablesCompiler.config(for: node, in: cluster, family: .ipv4)
        var best = Double.infinity, bytes = 0
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let text = NFTablesCompiler.compile(cluster, config: config, options: options).transactionText()
            best = min(best, (ContinuousClock.now - start).seconds)
            bytes += text.utf8.count
        }
        _ = bytes  // the text is made, not thrown away unseen
        return BenchResult(name: "compile.nftables", opsPerSecond: 1 / best, nsPerOp: best * 1e9, seconds: best)
    }
}
