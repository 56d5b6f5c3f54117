extension StringProtocol {
    /// The first line that is neither blank nor a `#` comment, without its leading blanks and
    /// trailing `\r`: what a dump's format is detected from (iptables-save or `iptables -S`,
    /// `ipset save` or `ipset list`, `ipvsadm -S` or `-Ln`).
    /// - Complexity: O(k) in the bytes up to the end of that line; it does not split the text,
    ///   which for a node's dump is megabytes.
    public var firstContentLine: SubSequence? {
        var start = startIndex
        while start < endIndex {
            // "\r\n" is one Character in Swift: a CRLF line ends there too.
            let end = self[start...].firstIndex { $0 == "\n" || $0 == "\r\n" } ?? endIndex
            var line = self[start..<end].drop { $0 == " " || $0 == "\t" }
            while line.last == "\r" { line = line.dropLast() }
            if !line.isEmpty && !line.hasPrefix("#") { return line }
            start = end < endIndex ? index(after: end) : endIndex
        }
        return nil
    }
}
