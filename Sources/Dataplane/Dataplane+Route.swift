import Cluster
import Netfilter
import Wire

extension Dataplane {
    /// After a node accepted the packet: deliver it locally, to a pod on the bridge, or send it
    /// to the next node (directly, or through the VXLAN tunnel), or out of the cluster.
    func route(_ w: consuming Walk, from n: Int, deliveredTo: Delivery?, decidedBy: PathDecider, client: (Packet, TraceSource)?,
               work: inout [Walk], finish: (Walk, PathVerdict, String?, PathDecider, DeliveryTarget?) -> Void) {
        var w = w
        // The node's name only, not a copy of the whole `Node` (every string and list of it,
        // retained and released on every packet routed).
        let nodeName = layout[n].node.name
        let dst = w.packet.destination
        if case .local? = deliveredTo {
            let hostPod = cluster.pods.first { $0.hostNetwork && $0.nodeName == nodeName && $0.ports.contains { $0.containerPort == w.packet.destinationPort } }
            if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: nodeName, action: "delivered locally on node \(nodeName)" + (hostPod.map { " to host-network pod \($0.key)" } ?? ""), packet: w.packet)) }
            finish(w, .delivered, nil, decidedBy, hostPod.map { .pod(namespace: $0.namespace, name: $0.name) } ?? .node(nodeName))
            return
        }
        if w.packet.outInterface == NodeNetwork.bridgeName {
            if let p = pod(dst, onNodeIndex: n) {
                if !w.bridgedAtIngress { w.transmissions += 1 }
                if w.recordSteps { let pod = cluster.pods[p]; w.steps.append(DataplaneStep(.deliver, node: nodeName, action: "\(NodeNetwork.bridgeName) → veth → pod \(pod.key) eth0", packet: w.packet,
                                             crossings: [InterfaceCrossing(.node(nodeName), NodeNetwork.bridgeName, .sent),
                                                         InterfaceCrossing(.pod(namespace: pod.namespace, name: pod.name), "eth0", .received)])) }
                finish(w, .delivered, nil, decidedBy, .pod(namespace: cluster.pods[p].namespace, name: cluster.pods[p].name))
            } else {
                finish(w, .noRoute, "no pod has \(dst) on node \(nodeName)'s bridge (ARP gets no answer)", .network, nil)
            }
            return
        }
        guard let choice = w.nodes.route(node: n, to: dst) else {
            finish(w, .noRoute, "no route to \(dst) on node \(nodeName)", .network, nil)
            return
        }
        let device = choice.device, nextHop = choice.nextHop
        if device == NodeNetwork.vxlanDevice(dst.family) {
            // flannel's VXLAN: the remote node owns the subnet whose network address is the next hop.
            guard let m = layout.firstIndex(where: { $0.node.podCIDRs.contains { $0.network == nextHop } }),
                  let outerSource = layout[n].node.internalIP(dst.family), let outerDestination = layout[m].node.internalIP(dst.family) else {
                finish(w, .noRoute, "no node owns the VXLAN next hop \(nextHop)", .network, nil)
                return
            }
            let outer = VXLANHeader(source: outerSource, destination: outerDestination, port: NodeNetwork.vxlanPort, vni: 1)
            w.transmissions += 1
            if w.recordSteps { w.steps.append(DataplaneStep(.tunnel(outer), node: nodeName,
                                         action: "\(device): encapsulated to node \(layout[m].node.name), decapsulated on its \(device)",
                                         packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(nodeName), device, .sent),
                                                     InterfaceCrossing(.node(nodeName), "eth0", .sent, encapsulated: true),
                                                     InterfaceCrossing(.node(layout[m].node.name), "eth0", .received, encapsulated: true),
                                                     InterfaceCrossing(.node(layout[m].node.name), device, .received)])) }
            w.location = .node(m, inInterface: device)
            w.ingressPod = nil
            w.bridgedAtIngress = false
            work.append(w)
            return
        }
        if let m = nodeByIP[nextHop], m != n {
            w.transmissions += 1
            if w.recordSteps { w.steps.append(DataplaneStep(.link, node: nodeName, action: "eth0 → node network → eth0 of node \(layout[m].node.name) (via \(nextHop))", packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(nodeName), device, .sent),
                                                     InterfaceCrossing(.node(layout[m].node.name), "eth0", .received)])) }
            w.location = .node(m, inInterface: "eth0")
            w.ingressPod = nil
            w.bridgedAtIngress = false
            work.append(w)
            return
        }
        w.transmissions += 1
        if let (clientPacket, source) = client, case .external(let ip) = source, dst == ip, w.packet.source == clientPacket.destination {
            if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: nodeName, action: "out eth0 via \(nextHop) back to \(ip)", packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(nodeName), device, .sent)])) }
            finish(w, .delivered, nil, decidedBy, .external(ip))
            return
        }
        if w.recordSteps { w.steps.append(DataplaneStep(.link, node: nodeName, action: "out \(device) via \(nextHop): leaves the cluster", packet: w.packet,
                                     crossings: [InterfaceCrossing(.node(nodeName), device, .sent)])) }
        finish(w, .leftCluster, "routed out of the cluster towards \(dst) via \(nextHop)", .network, nil)
    }
}
