import FoundationEssentials
import Netfilter

/// ARCHITECTURE.md's trace schema, extended with a `reply` object of the same shape.
extension DataplaneStep: Encodable {
    enum CodingKeys: String, CodingKey { case kind, node, hook, table, chain, rule, text, action, packet, outer }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(node, forKey: .node)
        try c.encode(hook?.rawValue, forKey: .hook)
        try c.encode(table, forKey: .table)
        try c.encode(chain, forKey: .chain)
        try c.encode(rule, forKey: .rule)
        try c.encode(text, forKey: .text)
        try c.encode(action, forKey: .action)
        try c.encode(packet, forKey: .packet)
        try c.encode(outer?.description, forKey: .outer)
    }
}

extension DataplanePath: Encodable {
    enum CodingKeys: String, CodingKey {
        case probability, verdict, why, decided_by, dnat, masquerade, snat, delivered_to, steps, final_packet, reply, reached_client
    }

    public func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, reachedClient: nil)
    }

    func encode(to encoder: any Encoder, reachedClient: Bool?) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(probability, forKey: .probability)
        try c.encode(verdict, forKey: .verdict)
        try c.encode(why, forKey: .why)
        try c.encode(decidedBy.description, forKey: .decided_by)
        try c.encode(dnat?.description, forKey: .dnat)
        try c.encode(masquerade, forKey: .masquerade)
        try c.encode(snat?.description, forKey: .snat)
        try c.encode(deliveredTo?.description, forKey: .delivered_to)
        try c.encode(steps, forKey: .steps)
        try c.encode(finalPacket, forKey: .final_packet)
        if let reachedClient { try c.encode(reachedClient, forKey: .reached_client) }
        if reachedClient == nil { try c.encode(reply, forKey: .reply) }
    }
}

extension ReplyPath: Encodable {
    public func encode(to encoder: any Encoder) throws {
        try path.encode(to: encoder, reachedClient: reachedClient)
    }
}

extension DataplaneTrace: Encodable {
    enum CodingKeys: String, CodingKey { case source, destination, packet, paths, notes }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(source, forKey: .source)
        try c.encode(destination, forKey: .destination)
        try c.encode(packet, forKey: .packet)
        try c.encode(paths, forKey: .paths)
        try c.encode(notes, forKey: .notes)
    }
}
