import Captures

extension Replay {
    /// Replays every record `reader` gives, in order: decoded, then injected or checked, or
    /// counted as undecodable. `each` sees every record with its outcome (nil for a record that
    /// was skipped or not replayed here), the packet as decoded (meaningful only with an
    /// outcome), the reason it was skipped, and its captured length; it may write outputs, and
    /// may throw to stop.
    ///
    /// - Complexity: one pass over the file; memory holds the flows, never the packets.
    public mutating func replayAll(_ reader: CaptureReader, keepBytes: Bool,
                                   _ each: (ReplayOutcome?, borrowing ReplayPacket, ReplaySkip?, Int) throws -> Void) throws {
        // One packet, decoded in place record after record and lent to `replay` and `each`:
        // an optional here was unwrapped into a copy (270 bytes and its references) for each
        // call, three copies per record.
        var packet = ReplayPacket()
        while let (record, link) = try reader.nextDecoded() {
            let keep = keepBytes || { if case .linuxSLL2 = link.kind { true } else { false } }()
            if let skip = ReplayPacket.decode(record, link: link, keepBytes: keep, into: &packet) {
                skipped(skip)
                try each(nil, packet, skip, record.capturedLength)
            } else {
                let outcome = replay(record: &packet)
                try each(outcome, packet, nil, record.capturedLength)
            }
        }
        for i in 0..<reader.undecodableCount {
            let example = i < reader.undecodableExamples.count ? reader.undecodableExamples[i] : nil
            skipped(ReplaySkip(kind: .undecodable, number: example?.number ?? 0, reason: example.map { "\($0.reason)" } ?? "link header"))
        }
    }
}
