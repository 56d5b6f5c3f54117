/// Why a piece of address, prefix, port or protocol text was rejected.
///
/// The message names the offending text so that callers (topology loaders, rule parsers) can
/// prefix it with a file and line and hand it straight to the user.
public struct AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    public let text: String
    public let reason: String

    public init(_ text: some StringProtocol, _ reason: String) {
        self.text = String(text)
        self.reason = reason
    }

    public var description: String { "invalid \"\(Excerpt.quote(text))\": \(reason)" }
}
