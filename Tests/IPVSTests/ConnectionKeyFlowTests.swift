import Testing
import IPVS
import Wire

/// IPVS keys its connections by Wire's 5-tuple: the packed key and the packet hold a `FlowKey`.
@Suite struct ConnectionKeyFlowTests {
    @Test(arguments: ["10.244.1.2", "fd00::2"])
    func aConnectionKeyPacksAFlowAndGivesItBack(_ client: String) throws {
        let virtual = client.contains(":") ? "fd00:96::1" : "10.96.0.1"
        let flow = FlowKey(source: try IPAddress(parsing: client), sourcePort: 40001,
                           destination: try IPAddress(parsing: virtual), destinationPort: 80, proto: .tcp)
        let key = ConnectionKey(flow)
        #expect(key.flow == flow)
        #expect(key == ConnectionKey(protocol: .tcp, client: flow.source, clientPort: 40001, virtual: flow.destination, virtualPort: 80))
        let packet = IPVSPacket(flow: flow, tcpFlags: .syn)
        #expect(packet.connectionKey == key)
        #expect(packet.source == flow.source && packet.destinationPort == 80 && packet.protocol == .tcp)
    }
}
