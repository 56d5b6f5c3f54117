import Foundation
import Testing
@testable import Cluster
import Wire

/// Builds a cluster from topology text, as `--topology` would from a file named `test.yaml`.
func cluster(_ yaml: String) throws -> Cluster {
    try ClusterBuilder.build(TopologyLoader.parse(text: yaml, file: "test.yaml"))
}

/// The InputError that building from `yaml` ends with (fails the test when it succeeds).
func buildError(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> InputError? {
    do {
        _ = try cluster(yaml)
        Issue.record("expected an input error", sourceLocation: sourceLocation)
        return nil
    } catch let e as InputError {
        return e
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A kdp topology header with the given `cluster:` body lines.
func topology(_ clusterLines: String = "", _ rest: String) -> String {
    "kind: Topology\ncluster:\n  name: t\n\(clusterLines)\n\(rest)"
}

func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

/// The repository root, found from this source file.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func prefix(_ s: String) -> Prefix { try! Prefix(parsing: s) }
