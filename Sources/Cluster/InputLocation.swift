import Wire

/// Where a piece of input came from, so every error can name the file, line and column.
public struct InputLocation: Hashable, Sendable, CustomStringConvertible {
    public let file: String
    /// 1-based; 0 when unknown.
    public let line: Int
    public let column: Int

    public init(file: String, line: Int = 0, column: Int = 0) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        line > 0 ? "\(file):\(line):\(column)" : file
    }
}

/// Bad input: a message for the user, with where it came from when known. kdp prints it and
/// exits with status 2.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public let location: InputLocation?
    public let message: String

    /// Quotations of input text longer than an excerpt are cut and control characters escaped
    /// here, once for every decoder (`Excerpt.shortened`): the message stays one short line.
    public init(_ message: String, at location: InputLocation? = nil) {
        self.location = location
        self.message = Excerpt.shortened(message)
    }

    public var description: String {
        if let location { "\(location): \(message)" } else { message }
    }
}
