import Foundation
import Testing
import TestSupport

/// `kdp report`: one self-contained HTML file (cluster picture, traces with their step tables
/// and pictures, a replay summary with charts, the verification), checked in a real headless
/// Chromium: it renders, its script runs without errors, and the sections and SVGs are there.
@Suite(.serialized) struct ReportCommandTests {
    static let demoArgs = ["report", "--trace", "pod/default/client,service/default/web:80",
                           "--trace", "pod/default/client,service/default/web-canary:80",
                           "--replay", "captures/demo.pcapng", "--at", "pod/default/client", "--verify"]

    /// Graphviz (the pictures) and Chromium (the browser check) are there under CI.
    func tool(_ name: String) -> Bool {
        if installed(name) { return true }
        #expect(!KernelCheck.isCI, "CI needs \(name): scripts/install-deps.sh installs it")
        print("skipping: \(name) is not installed")
        return false
    }

    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdp-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs headless Chromium on `file` with `args`, bounded to a minute, in its own profile.
    func chromium(_ file: URL, _ args: [String], in dir: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let out = dir.appendingPathComponent("chromium.out"), err = dir.appendingPathComponent("chromium.err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["timeout", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                       "--no-first-run", "--user-data-dir=\(dir.appendingPathComponent("profile").path)",
                       "--enable-logging=stderr", "--v=0"] + args + [file.absoluteString]
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    @Test func theDemoReportHoldsEverySectionAndFetchesNothing() throws {
        guard tool("dot") else { return }
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.html")
        let r = try kdp(Self.demoArgs + ["-o", file.path])
        #expect(r.status == 0, "\(r.stderr)")
        // Graphviz writes '-' in SVG text as an entity.
        let html = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "&#45;", with: "-")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for id in ["cluster", "traces", "replay", "verify"] { #expect(html.contains("<section id=\"\(id)\">"), "section \(id)") }
        // The cluster, two traces, and one chart per Service port the capture used.
        #expect(html.components(separatedBy: "<svg").count - 1 >= 4)
        #expect(html.contains("DNAT 10.105.17.17:80 → 10.244."))
        #expect(html.contains("rejected: default/web-canary (port http) has no endpoints"))
        #expect(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flows\""))
        #expect(html.contains("Every invariant holds."))
        // Nothing is fetched: no external script, style sheet, image or frame.
        for fetch in ["<link", "<script src", "<img", "<iframe", "src=\"http", "href=\"http", "url(http", "@import"] {
            #expect(!html.contains(fetch), "\(fetch)")
        }
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["report.html"])
    }

    @Test func headlessChromiumRendersTheReportWithoutErrors() throws {
        guard tool("dot"), tool("chromium") else { return }
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.html")
        #expect(try kdp(Self.demoArgs + ["-o", file.path]).status == 0)
        let dom = try chromium(file, ["--dump-dom"], in: dir)
        #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
        // The report's script ran to its end, counted its pictures, and saw no error.
        #expect(dom.stdout.contains("data-kdp-ready=\"yes\""))
        #expect(dom.stdout.contains("data-kdp-errors=\"0\""))
        let pictures = dom.stdout.firstMatch(of: /data-kdp-pictures="(\d+)"/).flatMap { Int($0.1) } ?? 0
        #expect(pictures >= 4)
        for id in ["cluster", "traces", "replay", "verify"] { #expect(dom.stdout.contains("<section id=\"\(id)\">")) }
        #expect(dom.stdout.contains("<svg") && dom.stdout.contains("<g id=\"graph0\" class=\"graph\""))
        // Chromium logs console messages (and uncaught errors) on stderr with --enable-logging.
        #expect(!dom.stderr.contains("Uncaught"), "\(dom.stderr.suffix(2000))")
        #expect(!dom.stderr.contains(":CONSOLE("), "\(dom.stderr.suffix(2000))")
        let shot = dir.appendingPathComponent("shot.png")
        let screenshot = try chromium(file, ["--hide-scrollbars", "--window-size=1200,1600", "--screenshot=\(shot.path)"], in: dir)
        #expect(screenshot.status == 0)
        let png = try Data(contentsOf: shot)
        #expect(png.count > 10_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
    }

    @Test func theHAReportDrawsTheClusterAndVerifies() throws {
        guard tool("dot") else { return }
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("ha.html")
        let r = try kdp("report", "--topology", "topologies/ha-cluster.yaml", "--trace", "pod/shop/frontend-1,service/shop/api:9000",
                        "--verify", "-o", file.path)
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "&#45;", with: "-")
        #expect(html.contains("kube-system/kube-apiserver-master-3"))
        #expect(html.contains("<table class=\"verify\">"))
        #expect(!html.contains("<section id=\"replay\">"))
    }

    /// `--proxy-mode nftables`: the trace's steps are the nft table's rules (as `nft monitor
    /// trace` names them), and the verification holds over them.
    @Test func anNFTablesModeReportTracesThroughTheNFTTable() throws {
        guard tool("dot") else { return }
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("nft.html")
        let r = try kdp("report", "--proxy-mode", "nftables", "--trace", "pod/default/client,service/default/web:80", "--verify", "-o", file.path)
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOf: file, encoding: .utf8)
        #expect(html.contains("ip kube-proxy"))
        #expect(!html.contains("KUBE-SERVICES"))
        #expect(html.contains("<table class=\"verify\">"))
    }

    @Test func badRequestsExitTwoAndWriteNothing() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("r.html")
        let noComma = try kdp("report", "--trace", "pod/default/client", "-o", file.path)
        #expect(noComma.status == 2 && noComma.stderr.contains("--trace pod/default/client: give SRC,DST"))
        let ghost = try kdp("report", "--trace", "pod/default/ghost,service/default/web:80", "-o", file.path)
        #expect(ghost.status == 2 && ghost.stderr.contains("no pod default/ghost"))
        let overwrite = try kdp("report", "--replay", "captures/demo.pcapng", "-o", "captures/demo.pcapng")
        #expect(overwrite.status == 2 && overwrite.stderr.contains("kdp never overwrites its input"))
        let missing = try kdp("report", "--replay", dir.appendingPathComponent("none.pcap").path, "-o", file.path)
        #expect(missing.status == 2)
        #expect(!FileManager.default.fileExists(atPath: file.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
