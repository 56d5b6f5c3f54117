import Foundation

/// Pearson's χ² goodness-of-fit test, with its survival function computed here (the
/// regularized upper incomplete gamma function Q(k/2, x/2), Numerical Recipes' series and
/// continued fraction), so the differential tests need no statistics package.
public enum ChiSquare {
    /// The statistic for `observed` counts against `probabilities` (summing to 1).
    public static func statistic(observed: [Int], probabilities: [Double]) -> Double {
        let n = Double(observed.reduce(0, +))
        var x = 0.0
        for (o, p) in zip(observed, probabilities) where p > 0 {
            let e = n * p
            x += (Double(o) - e) * (Double(o) - e) / e
        }
        return x
    }

    /// P(χ²(df) ≥ x): the p-value of statistic `x` with `df` degrees of freedom.
    public static func survival(_ x: Double, degreesOfFreedom df: Int) -> Double {
        guard df > 0 else { return 1 }
        guard x > 0 else { return 1 }
        return upperGammaQ(Double(df) / 2, x / 2)
    }

    /// Q(a, x) = Γ(a, x) / Γ(a).
    static func upperGammaQ(_ a: Double, _ x: Double) -> Double {
        let lnPrefix = -x + a * log(x) - lgamma(a)
        if x < a + 1 {
            // Series for P(a, x); Q = 1 - P.
            var ap = a, sum = 1 / a, term = 1 / a
            for _ in 0..<10_000 {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * 1e-15 { break }
            }
            return max(0, 1 - sum * exp(lnPrefix))
        }
        // Lentz's continued fraction for Q(a, x).
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return min(1, exp(lnPrefix) * h)
    }
}
