import Testing
import Wire
import IPVS
@testable import IPVSScenarios

func ip(_ s: String) -> IPAddress { try! IPAddress(parsing: s) }

@Suite struct ScenarioTests {
    let issueExample = """
    kernel: {hash_variant: hash32}
    sysctl: {conn_reuse_mode: 1, expire_nodest_conn: 0, expire_quiescent_template: 0}
    service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: sh,
              flags: [sh-port], persistent_timeout: null, netmask: 255.255.255.255}
    setup:
      - {op: add_dest, server: "10.244.1.1:8080", weight: 1}
      - {op: add_dest, server: "10.244.1.2:8080", weight: 1}
    events:
      - {op: connect, client: "192.168.10.1:40000"}
      - {op: check_counts}
      - {op: close, client: "192.168.10.1:40000"}
      - {op: check_counts}
      - {op: expire, client: "192.168.10.1:40000"}
      - {op: set_weight, server: "10.244.1.1:8080", weight: 0}
      - {op: add_dest, server: "10.244.1.4:8080", weight: 2}
      - {op: del_dest, server: "10.244.1.2:8080"}
      - {op: check_counts}
    """

    @Test func issueExampleRunsAndCountsThroughCloseAndExpire() throws {
        let s = try IPVSScenario.decode(issueExample)
        #expect(s.service.flags == .sched2)
        let run = try ScenarioRunner.run(s)
        #expect(run.results.count == 9)
        // sh-port: hash_32(192.168.10.1 + 40000) = 57; table [.2,.1] repeated → 57 odd → .1.
        #expect(run.results[0] == .connect(client: "192.168.10.1:40000", server: "10.244.1.1:8080", outcome: .new))
        #expect(run.results[1] == .counts([("10.244.1.1:8080", ServerCounts(active: 1, inactive: 0, persist: 0)),
                                           ("10.244.1.2:8080", ServerCounts(active: 0, inactive: 0, persist: 0))]))
        #expect(run.results[3] == .counts([("10.244.1.1:8080", ServerCounts(active: 0, inactive: 1, persist: 0)),
                                           ("10.244.1.2:8080", ServerCounts(active: 0, inactive: 0, persist: 0))]))
        #expect(run.results[8] == .counts([("10.244.1.1:8080", ServerCounts(active: 0, inactive: 0, persist: 0)),
                                           ("10.244.1.4:8080", ServerCounts(active: 0, inactive: 0, persist: 0))]))
        let json = ScenarioRender.json(run)
        #expect(json.contains("{\"op\": \"connect\", \"client\": \"192.168.10.1:40000\", \"server\": \"10.244.1.1:8080\", \"result\": \"new\"}"))
        #expect(json.contains("\"ipvsadm_Ln\": \"IP Virtual Server version 1.2.1 (size=4096)\\nProt LocalAddress:Port Scheduler Flags\\n"))
        #expect(json.contains("\"ipvsadm_Sn\": \"-A -t 10.96.0.10:80 -s sh -b sh-port\\n-a -t 10.96.0.10:80 -r 10.244.1.1:8080 -m -w 0\\n"))
        #expect(json.contains("{\"op\": \"expire\"}"))
        #expect(ScenarioRender.text(run).contains("[0] connect 192.168.10.1:40000 -> 10.244.1.1:8080 (new)"))
    }

    @Test func scaleDownWithQuiescedShServerGivesNoDestinationAndDeletedServerDrops() throws {
        let text = """
        {"service": {"protocol": "tcp", "vip": "10.96.0.10", "port": 80, "scheduler": "rr"},
         "setup": [{"op": "add_dest", "server": "10.244.1.1:8080"}, {"op": "add_dest", "server": "10.244.1.2:8080"}],
         "events": [{"op": "connect", "client": "192.168.10.1:1"},
                    {"op": "connect", "client": "192.168.10.1:1"},
                    {"op": "del_dest", "server": "10.244.1.2:8080"},
                    {"op": "connect", "client": "192.168.10.1:1"},
                    {"op": "set_weight", "server": "10.244.1.1:8080", "weight": 0},
                    {"op": "connect", "client": "192.168.10.1:2"}]}
        """
        let run = try ScenarioRunner.run(try IPVSScenario.decode(text))
        #expect(run.results[0] == .connect(client: "192.168.10.1:1", server: "10.244.1.2:8080", outcome: .new))
        #expect(run.results[1] == .connect(client: "192.168.10.1:1", server: "10.244.1.2:8080", outcome: .existing))
        #expect(run.results[3] == .connect(client: "192.168.10.1:1", server: nil, outcome: .drop))
        #expect(run.results[5] == .connect(client: "192.168.10.1:2", server: nil, outcome: .noDest))
    }

    @Test func persistentScenarioReportsPinnedConnectionsAsExisting() throws {
        let text = """
        service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: rr, persistent_timeout: 10800, netmask: 255.255.255.0}
        setup: [{op: add_dest, server: "10.244.1.1:8080"}, {op: add_dest, server: "10.244.1.2:8080"}]
        events:
          - {op: connect, client: "192.168.10.1:1"}
          - {op: connect, client: "192.168.10.7:1"}
          - {op: check_counts}
          - {op: advance, seconds: 20000}
          - {op: check_counts}
        """
        let run = try ScenarioRunner.run(try IPVSScenario.decode(text))
        #expect(run.results[1] == .connect(client: "192.168.10.7:1", server: "10.244.1.2:8080", outcome: .existing))
        #expect(run.results[2] == .counts([("10.244.1.1:8080", ServerCounts(active: 0, inactive: 0, persist: 0)),
                                           ("10.244.1.2:8080", ServerCounts(active: 2, inactive: 0, persist: 1))]))
        #expect(run.results[4] == .counts([("10.244.1.1:8080", ServerCounts(active: 0, inactive: 0, persist: 0)),
                                           ("10.244.1.2:8080", ServerCounts(active: 0, inactive: 0, persist: 0))]))
    }

    @Test func udpScenarioCountsInactive() throws {
        let text = """
        service: {protocol: udp, vip: 10.96.0.10, port: 53, scheduler: lc}
        setup: [{op: add_dest, server: "10.244.1.1:53"}]
        events: [{op: connect, client: "192.168.10.1:5353"}, {op: connect, client: "192.168.10.1:5353"}, {op: check_counts}]
        """
        let run = try ScenarioRunner.run(try IPVSScenario.decode(text))
        #expect(run.results[1] == .connect(client: "192.168.10.1:5353", server: "10.244.1.1:53", outcome: .existing))
        #expect(run.results[2] == .counts([("10.244.1.1:53", ServerCounts(active: 0, inactive: 1, persist: 0))]))
    }

    func decodeError(_ text: String) -> ScenarioError? {
        do { _ = try ScenarioRunner.run(try IPVSScenario.decode(text)); return nil } catch { return error }
    }

    let base = "service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: rr}\n"

    @Test func unknownOpNamesTheEventIndex() {
        let e = decodeError(base + "events: [{op: connect, client: \"1.2.3.4:5\"}, {op: teleport}]")
        #expect(e?.section == "events" && e?.index == 1)
        #expect(e?.description.hasPrefix("event 1") == true)
        #expect(e?.message.contains("unknown op \"teleport\"") == true)
    }

    @Test func unknownSchedulerIsRejected() {
        let e = decodeError("service: {protocol: tcp, vip: 10.96.0.10, port: 80, scheduler: fo}\n")
        #expect(e?.section == "service")
        #expect(e?.message.contains("unknown scheduler \"fo\"") == true)
    }

    @Test func malformedAddressNamesTheStep() {
        let e = decodeError(base + "setup: [{op: add_dest, server: \"10.244.1.300:80\"}]")
        #expect(e?.section == "setup" && e?.index == 0)
        #expect(e?.message.contains("malformed address") == true)
        let e2 = decodeError(base + "events: [{op: connect, client: \"192.168.1.1\"}]")
        #expect(e2?.index == 0 && e2?.message.contains("malformed address") == true)
    }

    @Test func closeForUnknownClientIsABadScenario() {
        let e = decodeError(base + "setup: [{op: add_dest, server: \"10.244.1.1:80\"}]\nevents: [{op: check_counts}, {op: close, client: \"9.9.9.9:9\"}]")
        #expect(e?.section == "events" && e?.index == 1)
        #expect(e?.message.contains("close for unknown client 9.9.9.9:9") == true)
    }

    @Test func unknownKeysAndBadValuesAreRejected() {
        #expect(decodeError(base + "extra: 1")?.message.contains("unknown key \"extra\"") == true)
        #expect(decodeError(base + "events: [{op: connect, client: \"1.2.3.4:5\", weight: 3}]")?.message.contains("does not take") == true)
        #expect(decodeError(base + "sysctl: {conn_reuse_mode: 9}")?.section == "sysctl")
        #expect(decodeError(base + "kernel: {hash_variant: md5}")?.section == "kernel")
        #expect(decodeError(base + "setup: [{op: add_dest, server: \"10.244.1.1:80\", weight: -1}]")?.index == 0)
        #expect(decodeError("service: [1, 2]")?.section == "service")
        #expect(decodeError("service: {vip: 10.96.0.10, port: 80, scheduler: rr, netmask: 255.0.255.0}")?.message.contains("contiguous") == true)
        #expect(decodeError(base + "setup: [{op: add_dest, server: \"10.244.1.1:80\"}, {op: add_dest, server: \"10.244.1.1:80\"}]")?.message.contains("already exists") == true)
        #expect(decodeError(": : :")?.section == "yaml")
    }

    @Test func legacyHashVariantIsDecodedFromTheScenario() throws {
        let s = try IPVSScenario.decode("""
        kernel: {hash_variant: legacy}
        sysctl: {conn_reuse_mode: 0, expire_nodest_conn: 1, expire_quiescent_template: 1}
        service: {protocol: udp, vip: "fd00::10", port: 53, scheduler: mh, flags: [mh-fallback, mh-port]}
        """)
        #expect(s.hashVariant == .legacy)
        #expect(s.sysctls == IPVSSysctls(connReuseMode: 0, expireNodestConn: true, expireQuiescentTemplate: true))
        #expect(s.service.flags == [.sched1, .sched2])
        #expect(s.service.key.address == ip("fd00::10"))
        #expect(s.service.netmask == 128)
    }
}
