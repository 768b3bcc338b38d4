import CPKCS11

/// One attribute of a PKCS#11 template, with its value already in the token's byte layout (v2.40 §4.1).
struct PKCS11Attribute {
    let type: CK_ATTRIBUTE_TYPE
    let value: [UInt8]

    static func bool(_ type: CK_ATTRIBUTE_TYPE, _ value: Bool) -> Self {
        Self(type: type, value: [value ? 1 : 0])
    }

    /// A CK_ULONG value (object classes, key types, certificate types), in the machine's byte order.
    static func ulong(_ type: CK_ATTRIBUTE_TYPE, _ value: CK_ULONG) -> Self {
        Self(type: type, value: withUnsafeBytes(of: value) { Array($0) })
    }

    static func bytes(_ type: CK_ATTRIBUTE_TYPE, _ value: [UInt8]) -> Self {
        Self(type: type, value: value)
    }

    /// A UTF-8 string, as CKA_LABEL and CKA_APPLICATION hold them (no terminating NUL).
    static func text(_ type: CK_ATTRIBUTE_TYPE, _ value: String) -> Self {
        Self(type: type, value: Array(value.utf8))
    }
}

/// Lays a template out as the C API wants it for the duration of `body`, then wipes and frees the copy.
func withTemplate<Result>(
    _ attributes: [PKCS11Attribute],
    _ body: (UnsafeMutablePointer<CK_ATTRIBUTE>?, CK_ULONG) throws -> Result
) rethrows -> Result {
    let total = attributes.reduce(0) { $0 + $1.value.count }
    let storage = UnsafeMutableRawBufferPointer.allocate(
        byteCount: max(total, 1), alignment: MemoryLayout<CK_ULONG>.alignment)
    defer {
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        storage.deallocate()
    }
    var cAttributes: [CK_ATTRIBUTE] = []
    cAttributes.reserveCapacity(attributes.count)
    var offset = 0
    for attribute in attributes {
        let start = storage.baseAddress!.advanced(by: offset)
        attribute.value.withUnsafeBytes { source in
            if let base = source.baseAddress { start.copyMemory(from: base, byteCount: source.count) }
        }
        cAttributes.append(
            CK_ATTRIBUTE(type: attribute.type, pValue: start, ulValueLen: CK_ULONG(attribute.value.count)))
        offset += attribute.value.count
    }
    return try cAttributes.withUnsafeMutableBufferPointer { buffer in
        try body(buffer.baseAddress, CK_ULONG(buffer.count))
    }
}

/// What reading one attribute of an object found.
enum PKCS11AttributeValue: Equatable {
    case value([UInt8])
    /// The token refused to reveal it (CKR_ATTRIBUTE_SENSITIVE): the proof that a private key stays inside.
    case sensitive
    /// The object has no such attribute.
    case absent

    var bytes: [UInt8]? {
        if case .value(let bytes) = self { return bytes }
        return nil
    }

    /// A CK_BBOOL attribute's value, or nil when it is not there.
    var bool: Bool? { bytes.flatMap { $0.count == 1 ? $0[0] != 0 : nil } }

    var ulong: CK_ULONG? {
        guard let bytes, bytes.count == MemoryLayout<CK_ULONG>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: CK_ULONG.self) }
    }

    var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
}
