import Foundation

/// Encodes an event's detail map as compact JSON with sorted keys, without a JSONEncoder per event
/// (issuance writes three events per certificate, on the hot path). Equal maps encode equally.
package enum EventDetailJSON {
    package static func encode(_ detail: [String: String]) -> String {
        var out = "{"
        for (index, key) in detail.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            appendString(key, to: &out)
            out += ":"
            appendString(detail[key]!, to: &out)
        }
        return out + "}"
    }

    private static func appendString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
