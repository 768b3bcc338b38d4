/// Lays out a whole OCSPResponse (RFC 6960 §4.2.1) around a signed body, by hand, without re-encoding anything.
///
/// A cached answer is stored as its signed *body* only: the DER of tbsResponseData, signatureAlgorithm and
/// signature, the part that differs per certificate. The `certs` field, the same for every answer of one CA,
/// and the fixed wrapping are added when the answer is sent:
///
/// ```
/// OCSPResponse   SEQUENCE {
///   ENUMERATED 0 (successful)
///   [0] { ResponseBytes SEQUENCE {
///           OID id-pkix-ocsp-basic
///           OCTET STRING { BasicOCSPResponse SEQUENCE { body, certs } } } } }
/// ```
/// This keeps the responder certificate (about half of every response) out of the cache, and costs one
/// allocation and two copies per answer instead of a signature.
enum OCSPResponseWire {
    /// The DER of an unsigned error response: `SEQUENCE { ENUMERATED status }`.
    static func error(_ status: OCSPResponseStatus) -> [UInt8] {
        [0x30, 0x03, 0x0A, 0x01, UInt8(status.rawValue)]
    }

    /// DER of `OBJECT IDENTIFIER id-pkix-ocsp-basic`.
    private static let basicTypeDER: [UInt8] = [0x06, 0x09, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]

    /// The body of a BasicOCSPResponse: the three signed-response fields, without `certs`.
    static func body(responseDataDER: [UInt8], signatureAlgorithmDER: [UInt8], signature: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(responseDataDER.count + signatureAlgorithmDER.count + signature.count + 8)
        out.append(contentsOf: responseDataDER)
        out.append(contentsOf: signatureAlgorithmDER)
        // BIT STRING with no unused bits.
        out.append(0x03)
        appendLength(signature.count + 1, to: &out)
        out.append(0)
        out.append(contentsOf: signature)
        return out
    }

    /// The complete successful response around `body` and the issuer's `certs` field.
    static func successful(body: [UInt8], certificatesField: [UInt8]) -> [UInt8] {
        let basicLength = body.count + certificatesField.count
        let basic = headerSize(basicLength) + basicLength
        let octets = headerSize(basic) + basic
        let responseBytesLength = basicTypeDER.count + octets
        let responseBytes = headerSize(responseBytesLength) + responseBytesLength
        let explicit = headerSize(responseBytes) + responseBytes
        let outerLength = 3 + explicit
        var out = [UInt8]()
        out.reserveCapacity(headerSize(outerLength) + outerLength)
        out.append(0x30)
        appendLength(outerLength, to: &out)
        out.append(contentsOf: [0x0A, 0x01, 0x00])
        out.append(0xA0)
        appendLength(responseBytes, to: &out)
        out.append(0x30)
        appendLength(responseBytesLength, to: &out)
        out.append(contentsOf: basicTypeDER)
        out.append(0x04)
        appendLength(basic, to: &out)
        out.append(0x30)
        appendLength(basicLength, to: &out)
        out.append(contentsOf: body)
        out.append(contentsOf: certificatesField)
        return out
    }

    /// Octets taken by a tag and the DER length of `length` content octets (X.690 §8.1.3, definite form).
    static func headerSize(_ length: Int) -> Int {
        var size = 2
        var remaining = length
        if remaining > 0x7F {
            while remaining > 0 {
                size += 1
                remaining >>= 8
            }
        }
        return size
    }

    static func appendLength(_ length: Int, to out: inout [UInt8]) {
        guard length > 0x7F else {
            out.append(UInt8(length))
            return
        }
        let count = headerSize(length) - 2
        out.append(0x80 | UInt8(count))
        for index in stride(from: count - 1, through: 0, by: -1) {
            out.append(UInt8(truncatingIfNeeded: length >> (8 * index)))
        }
    }
}
