import Captures

extension Replay {
    /// Replays every record `reader` gives, in order: decoded, then injected or checked, or
    /// counted as undecodable. `each` sees every replayed packet with its outcome (nil for a
    /// record that was skipped or not replayed here) and may write outputs; it may throw to stop.
    ///
    /// - Complexity: one pass over the file; memory holds the flows, never the packets.
    public mutating func replayAll(_ reader: CaptureReader, keepBytes: Bool,
                                   _ each: (ReplayOutcome?, ReplayPacket?, ReplaySkip?, Int) throws -> Void) throws {
        // Decoded in place into an optional, so that `each` borrows the packet instead of
        // receiving a copy wrapped per record.
        var packet: ReplayPacket? = ReplayPacket()
        while let (record, link) = try reader.nextDecoded() {
            let keep = keepBytes || { if case .linuxSLL2 = link.kind { true } else { false } }()
            if let skip = ReplayPacket.decode(record, link: link, keepBytes: keep, into: &packet!) {
                skipped(skip)
                try each(nil, nil, skip, record.capturedLength)
            } else {
                let outcome = replay(packet!)
                try each(outcome, packet, nil, record.capturedLength)
            }
        }
        for i in 0..<reader.undecodableCount {
            let example = i < reader.undecodableExamples.count ? reader.undecodableExamples[i] : nil
            skipped(ReplaySkip(kind: .undecodable, number: example?.number ?? 0, reason: example.map { "\($0.reason)" } ?? "link header"))
        }
    }
}
