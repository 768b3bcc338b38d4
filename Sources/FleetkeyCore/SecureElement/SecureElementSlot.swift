import X509

/// What a slot of a secure element is for; it decides nothing by itself but is attested with the key.
public enum SecureElementSlotPurpose: String, Sendable, Codable, Hashable, CaseIterable {
    /// The device's birth identity (IEEE 802.1AR IDevID), provisioned at the factory and locked.
    case deviceIdentity = "device-identity"
    /// An operational identity (LDevID) the owner's domain renews.
    case operational
    /// Keys an application on the device uses for its own purposes.
    case application
}

/// How a slot is configured when the element is made: what it is for and which key it holds.
///
/// Configuration is fixed for the life of the element, like the configuration zone of a real secure element.
public struct SecureElementSlotConfiguration: Sendable, Codable, Hashable {
    public var slot: Int
    public var purpose: SecureElementSlotPurpose
    /// The key the slot generates: ECDSA P-256 or P-384.
    public var keySpec: KeySpec

    public init(slot: Int, purpose: SecureElementSlotPurpose, keySpec: KeySpec) {
        self.slot = slot
        self.purpose = purpose
        self.keySpec = keySpec
    }

    /// The layout most device elements ship with: slot 0 holds the P-256 device identity, slot 1 an operational key.
    public static let standardLayout: [SecureElementSlotConfiguration] = [
        .init(slot: 0, purpose: .deviceIdentity, keySpec: .p256),
        .init(slot: 1, purpose: .operational, keySpec: .p256),
    ]
}

/// Whether a slot holds a key.
public enum SecureElementKeyState: String, Sendable, Codable, Hashable {
    /// No key yet.
    case empty
    /// A key generated inside the element.
    case present
    /// The key was destroyed; the slot cannot hold a key again.
    case zeroized
}

/// A slot as the element reports it.
public struct SecureElementSlotStatus: Sendable, Hashable {
    public var configuration: SecureElementSlotConfiguration
    public var keyState: SecureElementKeyState
    public var locked: Bool
    public var hasCertificate: Bool

    public init(
        configuration: SecureElementSlotConfiguration, keyState: SecureElementKeyState, locked: Bool,
        hasCertificate: Bool
    ) {
        self.configuration = configuration
        self.keyState = keyState
        self.locked = locked
        self.hasCertificate = hasCertificate
    }
}
