import Foundation

/// Running the real tools (ip, iptables, ipset, python3...) from tests: the one place that
/// starts, feeds, reads and stops child processes for the kernel checks.
public enum Shell {
    /// Runs a command found on PATH and returns its exit status and combined output; `input`,
    /// when given, is written to its standard input.
    @discardableResult
    public static func run(_ args: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try p.run()
        if let input {
            // Write on another thread: the child may fill the output pipe before reading all input.
            let data = Data(input.utf8)
            let writer = inPipe.fileHandleForWriting
            Thread.detachNewThread {
                writer.write(data)
                try? writer.close()
            }
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// Runs `script` with /bin/sh (inside network namespace `namespace`, when given) and returns
    /// its standard output; a non-zero exit throws, with the script's standard error.
    @discardableResult
    public static func sh(_ script: String, in namespace: String? = nil) throws -> String {
        let p = Process()
        if let namespace {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "netns", "exec", namespace, "sh", "-c", script]
        } else {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", script]
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let edata = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ShellError(description: "exit \(p.terminationStatus): \(script.prefix(200)): \(String(decoding: edata, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Starts a command in the background, its output discarded; `stop` ends it.
    public static func spawn(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// SIGKILL by pid (the children of a Swift Testing run may have SIGTERM blocked), then wait
    /// a bounded time for Foundation to see the exit.
    public static func stop(_ p: Process) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        for _ in 0..<100 where p.isRunning { Thread.sleep(forTimeInterval: 0.02) }
    }
}

public struct ShellError: Error, CustomStringConvertible {
    public let description: String
}
