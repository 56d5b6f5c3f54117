/// Why a ruleset text could not be read: where (file, line and column, from 1) and what.
public struct NFTParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    /// What is wrong, without the position.
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COLUMN: message`, as kdp's other parsers name positions.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}
