import Captures
import Foundation
import Testing
import TestSupport
import Wire

/// The captures shipped in `captures/` (recorded from the real kernel by
/// scripts/record-demo-captures.sh through worker-1's compiled rules): each opens with
/// `CaptureReader`, has the link type captures/README.md gives, decodes packet by packet with
/// Wire's headers (every checksum right), and holds what the README says it holds. No root needed.
struct DemoCapturesTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("captures").path

    // The demo topology's addresses (`kdp cluster`), as captures/README.md lists them.
    static let client = ip("10.244.1.2"), outside = ip("203.0.113.5"), nodeIP = ip("172.18.0.3")
    static let gateway = ip("10.244.1.1")
    static let kubeDNS = ip("10.96.0.10"), web = ip("10.105.17.17"), canary = ip("10.108.53.12"), sticky = ip("10.110.9.189")
    static let webEndpoints: Set<IPAddress> = [ip("10.244.1.3"), ip("10.244.2.2"), ip("10.244.2.3")]

    static func ip(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }

    static let expected: [(file: String, linkType: LinkType, pcapng: Bool, packets: Int)] = [
        ("dns-udp.pcap", .ethernet, false, 2),
        ("http-web.pcap", .ethernet, false, 60),
        ("nodeport.pcap", .ethernet, false, 20),
        ("refused.pcap", .ethernet, false, 2),
        ("affinity.pcap", .ethernet, false, 50),
        ("demo.pcapng", .ethernet, true, 22),
        ("node-any.pcap", .linuxSLL2, false, 20),
    ]

    func open(_ file: String) throws -> DecodedCapture {
        let capture = try DecodedCapture(path: Self.folder + "/" + file)
        #expect(capture.undecodable.isEmpty, "\(file): \(capture.undecodable)")
        return capture
    }

    /// Each TCP connection's packets, keyed by the client's flow (the SYN's).
    func connections(_ c: DecodedCapture) -> [FlowKey: [DecodedPacket]] {
        var out: [FlowKey: [DecodedPacket]] = [:]
        let clientFlows = Set(c.packets.filter(\.isSYN).map(\.flow))
        for p in c.packets where p.flow.proto == .tcp {
            let key = clientFlows.contains(p.flow) ? p.flow : p.flow.reversed
            out[key, default: []].append(p)
        }
        return out
    }

    /// A whole connection as the client sees it: handshake, request, response, FIN both ways,
    /// every reply from the address it connected to (un-DNATed).
    func expectWholeConnection(_ flow: FlowKey, _ packets: [DecodedPacket], _ file: String) {
        let fromClient = packets.filter { $0.flow == flow }, toClient = packets.filter { $0.flow == flow.reversed }
        #expect(fromClient.count + toClient.count == packets.count, "\(file) \(flow): a reply from another address")
        #expect(fromClient.first?.isSYN == true, "\(file) \(flow) starts with its SYN")
        let synACK = toClient.contains { $0.isSYNACK }
        let finBothWays = fromClient.contains { $0.isFIN } && toClient.contains { $0.isFIN }
        #expect(synACK, "\(file) \(flow): SYN-ACK")
        #expect(finBothWays, "\(file) \(flow): FIN both ways")
        #expect(fromClient.contains { $0.payload.starts(with: Array("GET / HTTP/1.1\r\n".utf8)) }, "\(file) \(flow): request")
        #expect(toClient.contains { $0.payload.starts(with: Array("HTTP/1.0 200 OK\r\n".utf8)) }, "\(file) \(flow): response")
    }

    @Test(arguments: expected.map(\.file))
    func everyShippedCaptureOpensWithItsLinkTypeAndDecodesEveryPacket(_ file: String) throws {
        let want = Self.expected.first { $0.file == file }!
        let reader = try CaptureReader(path: Self.folder + "/" + file)
        #expect(reader.linkType == want.linkType)
        #expect(reader.isPCAPNG == want.pcapng)
        let c = try open(file)
        #expect(c.packets.count == want.packets)
        #expect(c.packets.map(\.number) == Array(1...want.packets))
        #expect(zip(c.packets, c.packets.dropFirst()).allSatisfy { $0.timestampNanoseconds <= $1.timestampNanoseconds })
        let size = try FileManager.default.attributesOfItem(atPath: c.path)[.size] as! Int
        #expect(size < 300_000, "\(file) is \(size) bytes: keep shipped captures small")
    }

    @Test func everyCaptureShippedIsListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }
        #expect(Set(files) == Set(Self.expected.map(\.file)))
    }

    @Test func dnsCaptureHoldsAQueryToKubeDNSAndItsAnswerFromTheSameAddress() throws {
        let c = try open("dns-udp.pcap")
        let query = try #require(c.packets.first)
        #expect(query.flow.proto == .udp && query.flow.source == Self.client && query.flow.destinationEndpoint.description == "10.96.0.10:53")
        let reply = try #require(c.packets.last)
        #expect(reply.flow == query.flow.reversed)
        // Same transaction ID; the query names web's Service; the answer is its ClusterIP.
        #expect(query.payload.prefix(2) == reply.payload.prefix(2))
        let name = Array("\u{3}web\u{7}default\u{3}svc\u{7}cluster\u{5}local\u{0}".utf8)
        #expect(query.payload[12..<(12 + name.count)].elementsEqual(name))
        #expect(reply.payload[7] == 1, "one answer")
        #expect(Array(reply.payload.suffix(4)) == [10, 105, 17, 17])
    }

    @Test func httpCaptureHoldsWholeConnectionsToWebsClusterIP() throws {
        let c = try open("http-web.pcap")
        let conns = connections(c)
        #expect(conns.count == 6)
        for (flow, packets) in conns {
            #expect(flow.source == Self.client && flow.destinationEndpoint.description == "10.105.17.17:80")
            expectWholeConnection(flow, packets, "http-web")
        }
        #expect(Set(conns.keys.map(\.sourcePort)) == Set(41001...41006))
    }

    @Test func nodePortCaptureComesFromOutsideToWorker1sNodePort() throws {
        let c = try open("nodeport.pcap")
        let conns = connections(c)
        #expect(conns.count == 2)
        for (flow, packets) in conns {
            #expect(flow.source == Self.outside && flow.destination == Self.nodeIP && flow.destinationPort == 30080)
            expectWholeConnection(flow, packets, "nodeport")
        }
    }

    @Test func refusedCaptureHoldsTheSYNAndAPortUnreachableQuotingIt() throws {
        let c = try open("refused.pcap")
        let syn = try #require(c.packets.first)
        #expect(syn.isSYN && syn.flow.source == Self.client && syn.flow.destinationEndpoint.description == "10.108.53.12:80")
        let error = try #require(c.packets.last)
        #expect(error.icmp?.type == 3 && error.icmp?.code == 3, "ICMP port unreachable")
        #expect(error.flow.destination == Self.client && error.flow.source == Self.gateway)
        #expect(error.quoted?.flowKey == syn.flow)
    }

    @Test func affinityCaptureHoldsSeveralWholeConnectionsToWebSticky() throws {
        let c = try open("affinity.pcap")
        let conns = connections(c)
        #expect(conns.count == 5)
        for (flow, packets) in conns {
            #expect(flow.source == Self.client && flow.destination == Self.sticky && flow.destinationPort == 80)
            expectWholeConnection(flow, packets, "affinity")
        }
    }

    @Test func pcapngDemoHoldsDNSThenHTTPWithNanosecondTimestamps() throws {
        let c = try open("demo.pcapng")
        #expect(c.isPCAPNG)
        #expect(c.packets.contains { $0.timestampNanoseconds % 1000 != 0 }, "nanosecond precision kept")
        let first = try #require(c.packets.first)
        #expect(first.flow.proto == .udp && first.flow.destinationEndpoint.description == "10.96.0.10:53")
        #expect(c.packets[1].flow == first.flow.reversed)
        let conns = connections(c)
        #expect(conns.count == 2)
        for (flow, packets) in conns {
            #expect(flow.destination == Self.web && flow.destinationPort == 80)
            #expect(packets.first!.timestampNanoseconds > c.packets[1].timestampNanoseconds, "HTTP after DNS")
            expectWholeConnection(flow, packets, "demo")
        }
    }

    @Test func nodeAnyCaptureShowsEachPacketOnCni0AndOnEth0BeforeAndAfterNAT() throws {
        let c = try open("node-any.pcap")
        let headers = c.packets.compactMap(\.sll2)
        #expect(headers.count == c.packets.count)
        let interfaces = Set(headers.map(\.interfaceIndex))
        #expect(interfaces.count == 2)
        // The pod's packets come in on cni0 addressed to the ClusterIP, and leave on eth0 DNATed to
        // one web pod's :8080; the replies the other way round.
        let inbound = c.packets.filter { $0.sll2?.packetType == .host && $0.flow.destination == Self.web }
        let forwarded = c.packets.filter { $0.sll2?.packetType == .outgoing && $0.flow.source == Self.client }
        #expect(inbound.count == 5 && forwarded.count == 5)
        let cni0 = try #require(inbound.first?.sll2?.interfaceIndex), eth0 = try #require(forwarded.first?.sll2?.interfaceIndex)
        #expect(cni0 != eth0)
        #expect(inbound.allSatisfy { $0.sll2?.interfaceIndex == cni0 } && forwarded.allSatisfy { $0.sll2?.interfaceIndex == eth0 })
        let backend = try #require(forwarded.first?.flow.destination)
        #expect(Self.webEndpoints.contains(backend))
        #expect(forwarded.allSatisfy { $0.flow.destination == backend && $0.flow.destinationPort == 8080 })
        for (a, b) in zip(inbound, forwarded) {
            #expect(a.flow.sourceEndpoint == b.flow.sourceEndpoint && a.tcpFlags == b.tcpFlags && a.payload == b.payload)
        }
        let replies = c.packets.filter { $0.flow.destination == Self.client }
        #expect(replies.count == 10)
        #expect(replies.filter { $0.sll2?.interfaceIndex == cni0 }.allSatisfy { $0.flow.source == Self.web && $0.flow.sourcePort == 80 })
        #expect(replies.filter { $0.sll2?.interfaceIndex == eth0 }.allSatisfy { $0.flow.source == backend && $0.flow.sourcePort == 8080 })
    }
}
