import Cluster
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One input, read once, the same way for every command: a regular file, a pipe or process
/// substitution (`--rules <(iptables-save)`, `--topology <(kubectl get … -o yaml)`), a character
/// device (`/dev/null` is empty content; the parser then says what it says about empty input),
/// or standard input for `-`. A folder is refused with a clear message, except where a folder
/// is a valid input (`--topology`, see `topology(_:)`).
///
/// The text must be UTF-8 without control characters other than tab, carriage return and line
/// feed; the first offending byte is reported as `FILE:LINE:COLUMN`. A leading byte-order mark
/// is dropped. Inputs are at most `maximumBytes`.
///
/// Why POSIX `open`/`read` rather than `Data(contentsOf:)`: Foundation stats the path first and
/// treats pipes and devices as unreadable ("You don't have permission"), and reports a folder as
/// "NSCocoaErrorDomain error 256".
struct InputFile: Sendable {
    /// The name used in messages: the path as given, or `<stdin>` for `-`.
    let name: String
    let text: String

    /// The largest input kdp reads: 256 MiB, well above a 20,000-Service node's iptables-save
    /// (about 30 MB) and below what would exhaust memory once parsed.
    static let maximumBytes = 256 << 20
    /// How standard input is named in messages.
    static let standardInputName = "<stdin>"

    /// Reads `path` (`-` for standard input) as text.
    static func read(_ path: String) throws(InputError) -> InputFile {
        let name = path == "-" ? standardInputName : path
        return try InputFile(bytes: try readBytes(path), name: name)
    }

    /// Bytes already read, checked as `read` checks them (the fuzz tests start here).
    init(bytes: [UInt8], name: String) throws(InputError) {
        self.init(name: name, text: try Self.decode(bytes, name: name))
    }

    init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// `--topology PATH`: a folder expands to its `.yaml`, `.yml` and `.json` files in name
    /// order (not recursively); anything else is read as one input.
    static func topology(_ path: String) throws(InputError) -> [InputFile] {
        guard path != "-", isFolder(path) else { return [try read(path)] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw InputError("cannot list the folder: \(reason(errno: EACCES))", at: InputLocation(file: path))
        }
        let picked = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }.sorted()
        guard !picked.isEmpty else { throw InputError("folder has no .yaml, .yml or .json files", at: InputLocation(file: path)) }
        var files: [InputFile] = []
        for name in picked { files.append(try read((path as NSString).appendingPathComponent(name))) }
        return files
    }

    /// Standard input can be read once: at most one input may be `-`. Commands call this in
    /// `validate()`, before any work.
    static func checkStandardInputUsedOnce(_ paths: [String?]) throws(InputError) {
        if paths.filter({ $0 == "-" }).count > 1 {
            throw InputError("standard input (-) can be read once: give at most one input as -")
        }
    }

    static func isFolder(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The bytes of `path`, or of standard input for `-`, whatever kind of file it is.
    static func readBytes(_ path: String, limit maximumBytes: Int = InputFile.maximumBytes) throws(InputError) -> [UInt8] {
        let name = path == "-" ? standardInputName : path
        func fail(_ message: String) -> InputError { InputError(message, at: InputLocation(file: name)) }
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            guard !path.isEmpty else { throw InputError("an empty path was given where a file is expected") }
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw fail(errno == ENOENT ? "no such file or folder" : "cannot read: \(reason(errno: errno))") }
        }
        defer { if fd != 0 { close(fd) } }
        var st = stat()
        if fstat(fd, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { throw fail("is a folder, not a file") }
            if (st.st_mode & S_IFMT) == S_IFREG && Int(st.st_size) > maximumBytes {
                throw fail("is \(st.st_size) bytes, larger than the \(maximumBytes >> 20) MiB kdp reads")
            }
        }
        var bytes: [UInt8] = []
        if (st.st_mode & S_IFMT) == S_IFREG { bytes.reserveCapacity(Int(st.st_size) + (1 << 16)) }
        let chunk = 1 << 16
        while true {
            if bytes.count > maximumBytes {
                throw fail("is larger than the \(maximumBytes >> 20) MiB kdp reads")
            }
            let before = bytes.count
            var failure: Int32 = 0
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            let n = bytes.withUnsafeMutableBytes { buf -> Int in
                while true {
                    let r = systemRead(fd, buf.baseAddress! + before, chunk)
                    if r < 0 && errno == EINTR { continue }
                    if r < 0 { failure = errno }
                    return r
                }
            }
            guard n >= 0 else {
                bytes.removeSubrange(before...)
                if failure == EISDIR { throw fail("is a folder, not a file") }
                throw fail("cannot read: \(reason(errno: failure))")
            }
            bytes.removeSubrange((before + n)...)
            if n == 0 { break }
        }
        return bytes
    }

    /// The system's reason for `errno`, in its own words (`strerror`), lower-cased as kdp's
    /// messages are: "no such file or directory", "permission denied".
    static func reason(errno code: Int32) -> String {
        guard let s = strerror(code) else { return "error \(code)" }
        let text = String(cString: s)
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    /// Checks that `bytes` are UTF-8 text and returns them as a String; the first invalid byte
    /// or control character is an error at its line and column (columns count characters).
    ///
    /// - Complexity: O(*n*); one pass, with an ASCII fast path.
    static func decode(_ bytes: [UInt8], name: String) throws(InputError) -> String {
        var start = 0
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
        var line = 1
        var lineStart = start
        var i = start
        let n = bytes.count
        func fail(_ what: String, at offset: Int) -> InputError {
            // Characters from the line's start to the offending byte (all valid UTF-8 before it).
            let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).unicodeScalars.count + 1
            return InputError(what, at: InputLocation(file: name, line: line, column: column))
        }
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                if b == 0x0A {
                    line += 1
                    lineStart = i + 1
                } else if (b < 0x20 && b != 0x09 && b != 0x0D) || b == 0x7F {
                    throw fail(controlName(b) + " is not text (a binary file, or a file in another encoding?)", at: i)
                }
                i += 1
                continue
            }
            // A multi-byte sequence: its length from the lead byte, then continuation bytes, no
            // overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: throw fail("invalid UTF-8 (byte 0x\(hex(b))): kdp reads UTF-8 text", at: i)
            }
            guard i + length <= n else { throw fail("invalid UTF-8 (the text ends inside a character)", at: i) }
            for k in 1..<length {
                let c = bytes[i + k]
                let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard c >= lo && c <= hi else { throw fail("invalid UTF-8 (byte 0x\(hex(b)) then 0x\(hex(c))): kdp reads UTF-8 text", at: i) }
            }
            // C1 control characters (U+0080–U+009F but NEL) and the noncharacters U+FFFE and
            // U+FFFF are valid UTF-8 but not text (YAML refuses them too, with only a byte offset).
            if b == 0xC2 && bytes[i + 1] <= 0x9F && bytes[i + 1] != 0x85 {
                throw fail("control character U+00\(hex(bytes[i + 1])) is not text (a binary file, or a file in another encoding?)", at: i)
            }
            if b == 0xEF && bytes[i + 1] == 0xBF && bytes[i + 2] >= 0xBE {
                throw fail("U+FFF\(bytes[i + 2] == 0xBE ? "E" : "F") is not a character (a file in another encoding?)", at: i)
            }
            i += length
        }
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    /// Two upper-case hex digits.
    static func hex(_ b: UInt8) -> String {
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }

    /// `NUL byte`, `control character 0x1B`.
    static func controlName(_ b: UInt8) -> String {
        b == 0 ? "NUL byte" : "control character 0x\(hex(b))"
    }
}

/// read(2), named apart from `InputFile.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
