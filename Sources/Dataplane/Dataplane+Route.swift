import Cluster
import Netfilter
import Wire

extension Dataplane {
    /// After a node accepted the packet: deliver it locally, to a pod on the bridge, or send it
    /// to the next node (directly, or through the VXLAN tunnel), or out of the cluster.
    func route(_ w: consuming Walk, from n: Int, deliveredTo: Delivery?, decidedBy: PathDecider, client: (Packet, TraceSource)?,
               work: inout [Walk], finish: (Walk, PathVerdict, String?, PathDecider, DeliveryTarget?) -> Void) {
        var w = w
        let node = layout[n].node
        let dst = w.packet.destination
        if case .local? = deliveredTo {
            let hostPod = cluster.pods.first { $0.hostNetwork && $0.nodeName == node.name && $0.ports.contains { $0.containerPort == w.packet.destinationPort } }
            if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: node.name, action: "delivered locally on node \(node.name)" + (hostPod.map { " to host-network pod \($0.key)" } ?? ""), packet: w.packet)) }
            finish(w, .delivered, nil, decidedBy, hostPod.map { .pod(namespace: $0.namespace, name: $0.name) } ?? .node(node.name))
            return
        }
        let out = w.packet.outInterface ?? "?"
        if out == NodeNetwork.bridgeName {
            if let p = pod(dst, onNode: node.name) {
                let pod = cluster.pods[p]
                if !w.bridgedAtIngress { w.transmissions += 1 }
                if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: node.name, action: "\(NodeNetwork.bridgeName) → veth → pod \(pod.key) eth0", packet: w.packet,
                                             crossings: [InterfaceCrossing(.node(node.name), NodeNetwork.bridgeName, .sent),
                                                         InterfaceCrossing(.pod(namespace: pod.namespace, name: pod.name), "eth0", .received)])) }
                finish(w, .delivered, nil, decidedBy, .pod(namespace: pod.namespace, name: pod.name))
            } else {
                finish(w, .noRoute, "no pod has \(dst) on node \(node.name)'s bridge (ARP gets no answer)", .network, nil)
            }
            return
        }
        guard let (device, nextHop) = w.nodes.route(node: n, to: dst) else {
            finish(w, .noRoute, "no route to \(dst) on node \(node.name)", .network, nil)
            return
        }
        if device == NodeNetwork.vxlanDevice(dst.family) {
            // flannel's VXLAN: the remote node owns the subnet whose network address is the next hop.
            guard let m = layout.firstIndex(where: { $0.node.podCIDRs.contains { $0.network == nextHop } }),
                  let outerSource = node.internalIP(dst.family), let outerDestination = layout[m].node.internalIP(dst.family) else {
                finish(w, .noRoute, "no node owns the VXLAN next hop \(nextHop)", .network, nil)
                return
            }
            let outer = VXLANHeader(source: outerSource, destination: outerDestination, port: NodeNetwork.vxlanPort, vni: 1)
            w.transmissions += 1
            if w.recordSteps { w.steps.append(DataplaneStep(.tunnel(outer), node: node.name,
                                         action: "\(device): encapsulated to node \(layout[m].node.name), decapsulated on its \(device)",
                                         packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(node.name), device, .sent),
                                                     InterfaceCrossing(.node(node.name), "eth0", .sent, encapsulated: true),
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
            if w.recordSteps { w.steps.append(DataplaneStep(.link, node: node.name, action: "eth0 → node network → eth0 of node \(layout[m].node.name) (via \(nextHop))", packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(node.name), device, .sent),
                                                     InterfaceCrossing(.node(layout[m].node.name), "eth0", .received)])) }
            w.location = .node(m, inInterface: "eth0")
            w.ingressPod = nil
            w.bridgedAtIngress = false
            work.append(w)
            return
        }
        w.transmissions += 1
        if let (clientPacket, source) = client, case .external(let ip) = source, dst == ip, w.packet.source == clientPacket.destination {
            if w.recordSteps { w.steps.append(DataplaneStep(.deliver, node: node.name, action: "out eth0 via \(nextHop) back to \(ip)", packet: w.packet,
                                         crossings: [InterfaceCrossing(.node(node.name), device, .sent)])) }
            finish(w, .delivered, nil, decidedBy, .external(ip))
            return
        }
        if w.recordSteps { w.steps.append(DataplaneStep(.link, node: node.name, action: "out \(device) via \(nextHop): leaves the cluster", packet: w.packet,
                                     crossings: [InterfaceCrossing(.node(node.name), device, .sent)])) }
        finish(w, .leftCluster, "routed out of the cluster towards \(dst) via \(nextHop)", .network, nil)
    }
}
