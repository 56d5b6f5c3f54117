import Foundation

/// A small SVG line chart (no plotting library builds here): x linear, y on a log scale
/// because lookup costs span from tens of nanoseconds to microseconds.
enum SVGPlot {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func lineChart(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
        let width = 860.0, height = 520.0
        let left = 80.0, right = 230.0, top = 50.0, bottom = 60.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }.filter { $0 > 0 }
        let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, xMin + 1)
        let yMinExp = floor(log10(ys.min() ?? 1)), yMaxExp = max(ceil(log10(ys.max() ?? 10)), yMinExp + 1)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (log10(max(y, 1e-9)) - yMinExp) / (yMaxExp - yMinExp) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        // Grid and y ticks at each power of ten.
        var e = yMinExp
        while e <= yMaxExp {
            let y = py(pow(10, e))
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(tickLabel(pow(10, e)))</text>\n"
            e += 1
        }
        for x in Set(xs).sorted() {
            svg += "<line x1=\"\(f(px(x)))\" y1=\"\(f(top))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotH))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(Int(x))</text>\n"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 15))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(20 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            // Past the palette, dashes keep lines of one colour apart.
            let dash = i >= palette.count ? " stroke-dasharray=\"6 3\"" : ""
            let points = s.points.sorted { $0.x < $1.x }.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash) points=\"\(points)\"/>\n"
            for p in s.points { svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>\n" }
            let ly = top + 14 + Double(i) * 18
            svg += "<line x1=\"\(f(left + plotW + 16))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + plotW + 36))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            svg += "<text x=\"\(f(left + plotW + 42))\" y=\"\(f(ly))\">\(escape(s.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func tickLabel(_ ns: Double) -> String {
        switch ns {
        case ..<1_000: "\(Int(ns)) ns"
        case ..<1_000_000: "\(Int(ns / 1_000)) µs"
        default: "\(Int(ns / 1_000_000)) ms"
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
