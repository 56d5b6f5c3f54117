import Dataplane
import Foundation

/// The charts of `kdp report`: one horizontal bar per endpoint, drawn as inline SVG (no
/// plotting library, nothing fetched).
enum ReportChart {
    /// A Service port's new flows per endpoint in a replay, most first; flows that reached no
    /// endpoint are the difference to the total, said in the title.
    static func flows(_ s: ReplaySummary.ServiceFlows) -> String {
        let bars = s.endpoints.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        let most = max(1, bars.map(\.value).max() ?? 1)
        let delivered = bars.reduce(0) { $0 + $1.value }
        let rowHeight = 22.0, left = 170.0, barWidth = 360.0, top = 30.0
        let height = top + Double(max(bars.count, 1)) * rowHeight + 10
        let title = "\(s.service) \(s.port)/\(s.proto.uppercased()): \(s.flows) flows"
            + (delivered < s.flows ? ", \(s.flows - delivered) to no endpoint" : "")
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flows\" width=\"\(Int(left + barWidth + 80))\" height=\"\(Int(height))\" role=\"img\">\n"
        svg += "<title>\(HTMLReport.escape(title))</title>\n"
        svg += "<text x=\"4\" y=\"18\" font-weight=\"bold\">\(HTMLReport.escape(title))</text>\n"
        if bars.isEmpty { svg += "<text x=\"4\" y=\"\(Int(top + 14))\">no flow reached an endpoint</text>\n" }
        for (i, bar) in bars.enumerated() {
            let y = top + Double(i) * rowHeight
            let w = max(1, barWidth * Double(bar.value) / Double(most))
            svg += "<text x=\"\(Int(left - 6))\" y=\"\(Int(y + 14))\" text-anchor=\"end\">\(HTMLReport.escape(bar.key))</text>\n"
            svg += "<rect class=\"bar\" x=\"\(Int(left))\" y=\"\(Int(y + 3))\" width=\"\(String(format: "%.1f", w))\" height=\"\(Int(rowHeight - 6))\" fill=\"#5b8fc7\"/>\n"
            svg += "<text x=\"\(String(format: "%.1f", left + w + 6))\" y=\"\(Int(y + 14))\">\(bar.value)</text>\n"
        }
        return svg + "</svg>"
    }
}
