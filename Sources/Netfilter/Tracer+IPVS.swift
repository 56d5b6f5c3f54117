import Wire

extension Tracer {
    /// ip_vs_in_hook at LOCAL_IN (ip_vs_remote_request4) or LOCAL_OUT (ip_vs_local_request4).
    func ipvsRequest(at hook: Hook, path s: inout PathState, forks work: inout [PathState], options o: TraceOptions) {
        guard !s.ipvsHandled, var ipvs = s.host.ipvs else { return }
        if s.constants != nil { s.constants!.shared += ipvs.headerConstants(for: s.packet) }
        // All paths: one path per real server the scheduler could choose, each with its share.
        if o.allPaths, o.everyRealServer, work.count + 1 < o.maxPaths, let every = ipvs.requestEveryServer(s.packet, explain: s.recordSteps), every.count > 1 {
            for choice in every.dropFirst() {
                var fork = s
                fork.host.ipvs = choice.hook
                fork.probability *= choice.share
                apply(choice.decision, at: hook, path: &fork)
                work.append(fork)
            }
            s.host.ipvs = every[0].hook
            s.probability *= every[0].share
            apply(every[0].decision, at: hook, path: &s)
            return
        }
        let decision = ipvs.request(s.packet, explain: s.recordSteps)
        s.host.ipvs = ipvs
        apply(decision, at: hook, path: &s)
    }

    /// What ip_vs_in_hook's decision does to the path.
    private func apply(_ decision: IPVSDecision, at hook: Hook, path s: inout PathState) {
        if case .pass(nil) = decision {} else { s.consultedState = true }
        switch decision {
        case .pass(let note):
            if let note { s.step(hook, .ipvs, note) }
        case .drop(let reason):
            s.step(hook, .ipvs, "drop: \(reason)")
            s.finish(.dropped, .ipvs, "IPVS: \(reason)")
        case .noDestination(let explanation):
            for line in explanation { s.step(hook, .ipvs, line) }
            s.step(hook, .ipvs, "no destination available: ICMP port unreachable, drop")
            s.finish(.rejected, .ipvs, "IPVS: the virtual service has no usable real server (ip_vs_leave sends ICMP port unreachable)")
        case .forward(let to, let port, let explanation):
            for line in explanation { s.step(hook, .ipvs, line) }
            ipvsForward(to: to, port: port, at: hook, path: &s)
        }
    }

    /// ip_vs_nat_xmit: rewrite the destination to the real server, tell conntrack the reply will
    /// come from it (ip_vs_update_conntrack, with net/ipv4/vs/conntrack=1 as kube-proxy sets it),
    /// then either continue (a local real server: NF_ACCEPT) or send the packet on through
    /// LOCAL_OUT and POSTROUTING (ip_vs_nat_send_or_cont: NF_HOOK(LOCAL_OUT), NF_STOLEN).
    private func ipvsForward(to: IPAddress, port: UInt16, at hook: Hook, path s: inout PathState) {
        let (virtualAddress, virtualPort) = (s.packet.destination, s.packet.destinationPort)
        s.packet.destination = to
        if s.packet.proto.hasPorts { s.packet.destinationPort = port }
        s.ipvsHandled = true
        s.dnat = SocketAddress(to, port: s.packet.destinationPort)
        // Only an unconfirmed connection's reply tuple is altered, in the original direction.
        // IPVS sets no IPS_DST_NAT: conntrack does not un-NAT the reply; IPVS's out hook does.
        if var e = s.conn.entry, s.conn.tableIndex == nil, !s.conn.isReply {
            e.reply.source = to
            if s.packet.proto.hasPorts { e.reply.sourcePort = port }
            s.conn.entry = e
        }
        let real = s.dnat!
        let rewrite = Rewrite.ipvsMasq(virtual: virtualAddress, virtualPort: virtualPort, real: to, realPort: s.packet.destinationPort)
        if s.host.isLocal(to) {
            if hook == .output {
                s.packet.outInterface = "lo"
                s.originalDestination = to
            }
            s.step(hook, .ipvs, rewrite: rewrite, "masq: destination \(virtualAddress.joined(port: virtualPort)) → \(real), a local address: the packet continues through \(hook.rawValue)")
            return
        }
        guard let r = s.host.route(to: to) else { return drop(&s, "IPVS: no route to real server \(to)") }
        s.packet.outInterface = r.device
        s.packet.inInterface = nil
        s.originalDestination = to
        s.step(hook, .ipvs, rewrite: rewrite, "masq: destination \(virtualAddress.joined(port: virtualPort)) → \(real); sent out \(r.device) through OUTPUT and POSTROUTING")
        s.program = Self.withNFT([.table(.output, .raw), .table(.output, .mangle), .nat(.output), .table(.output, .filter),
                     .table(.output, .security), .table(.postrouting, .mangle), .nat(.postrouting), .confirm, .transmit], s.host)
        s.pc = 0
    }

    /// ip_vs_out_hook (ip_vs_reply4 at LOCAL_IN and FORWARD, ip_vs_local_reply4 at LOCAL_OUT):
    /// a real server's packet of a Masq connection leaves with the virtual address as source.
    func ipvsReply(at hook: Hook, path s: inout PathState) {
        guard !s.ipvsHandled, var ipvs = s.host.ipvs, let reply = ipvs.reply(s.packet, explain: s.recordSteps) else { return }
        s.host.ipvs = ipvs
        s.consultedState = true
        s.packet.source = reply.source
        if s.packet.proto.hasPorts { s.packet.sourcePort = reply.sourcePort }
        s.ipvsHandled = true
        let (virtual, port) = (s.packet.source, s.packet.sourcePort)
        s.step(hook, .ipvs, rewrite: .ipvsReply(virtual: virtual, port: port), reply.explanation)
    }
}
