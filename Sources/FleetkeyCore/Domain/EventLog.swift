/// What happened, in an entry of the event log: a dotted verb, one case per kind of lifecycle event.
///
/// The raw values are what the registry stores (and what its `events.action` CHECK constraint admits), so a case is
/// never renamed; a new kind of event is a new case and a migration that admits it.
public enum EventAction: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// An ecosystem's root was created (`fleetkey init`).
    case ecosystemCreated = "ecosystem.created"
    /// An owner's registry learned the ecosystem root it trusts (`fleetkey owner init`).
    case trustAnchorAdded = "trust-anchor.added"
    /// A vendor was admitted, with its issuing CA.
    case vendorAdmitted = "vendor.admitted"
    /// A vendor's issuing CA was revoked: it may no longer issue.
    case vendorRevoked = "vendor.revoked"
    /// An owner was added to a registry.
    case ownerAdded = "owner.added"
    /// A certificate was signed and recorded.
    case certificateIssued = "certificate.issued"
    /// A certificate was revoked.
    case certificateRevoked = "certificate.revoked"
    /// A device first appeared in the registry, holding its key.
    case deviceRegistered = "device.registered"
    /// A device's identity certificate was issued and its secure element locked.
    case deviceProvisioned = "device.provisioned"
    /// A device left the factory in a signed manifest (or arrived at its owner's registry with one).
    case deviceShipped = "device.shipped"
    /// A device was taken out of service by revocation.
    case deviceRevoked = "device.revoked"
    /// A supply-chain manifest was imported.
    case manifestImported = "manifest.imported"
    /// An owner's registry made its domain CA (`fleetkey owner ca create`), which issues operational identities.
    case authorityCreated = "authority.created"
    /// The owner took a shipped device into its domain: approved by an operator, or by its first enrollment.
    case deviceCommissioned = "device.commissioned"
    /// A device received its first operational identity (LDevID) over EST and went into service.
    case deviceActivated = "device.activated"
    /// A device renewed its operational identity over EST (RFC 7030 §4.2.2).
    case deviceReenrolled = "device.reenrolled"
    /// A device was taken out of service for now (a suspected clone, or by an operator).
    case deviceSuspended = "device.suspended"
    /// An enrollment waits for an operator's approval (RFC 7030 §4.2.3: answered 202 with Retry-After).
    case enrollmentPending = "enrollment.pending"
    /// An EST request was refused: the rule that failed and the peer's address are in the detail.
    case enrollmentRefused = "enrollment.refused"
    /// An alert for the operator: a second first-enrollment of one factory identity, a suspected clone.
    case cloneSuspected = "alert.clone-suspected"
    /// A device was handed on to another owner (`fleetkey device release`); a transfer record was written.
    case deviceReleased = "device.released"
    /// A device arrived by a transfer record (`fleetkey device claim`): shipped to this owner.
    case deviceClaimed = "device.claimed"
    /// A device was retired (`fleetkey device retire`, or a vendor importing an owner's retirement notice).
    case deviceRetired = "device.retired"
    /// A retired device's signed statement that its keys were destroyed arrived: the keys' last use.
    case keyDestroyed = "device.key-destroyed"
    /// A command for a device (zeroize) was queued, signed by the owner's domain CA.
    case commandQueued = "command.queued"
    /// A device group was created (`fleetkey group create`).
    case groupCreated = "group.created"
    /// Devices were added to a group (`fleetkey group add`).
    case groupChanged = "group.changed"
    /// An access-control policy was loaded (`fleetkey authz policy set`).
    case policySet = "authz.policy-set"
    /// An access-control decision denied a known device: the action, resource and deciding rule are in the detail.
    case accessDenied = "authz.denied"
    /// An alert for the operator: a retired identity tried to enroll or asked for access.
    case retiredIdentityUsed = "alert.retired-identity"

    public var description: String { rawValue }
}

/// What an event is about: one kind of registry object and its identifier, stored as `kind:identifier`.
///
/// ```
/// certificate:<issuer>/<serial>   device:<vendor>/<serial>   vendor:<name>   authority:<id>
/// owner:<name>                    manifest:<sha-256>
/// group:<name>                    policy:<sha-256>                 command:<id>
/// ```
/// The text form is what the registry stores and indexes (a device's history is the events whose subject is
/// `device:<vendor>/<serial>`); ``init(parsing:)`` reads it back and refuses anything else.
public enum EventSubject: Sendable, Hashable, CustomStringConvertible {
    case certificate(issuer: String, serial: String)
    case device(DeviceID)
    case vendor(VendorName)
    case authority(String)
    case owner(String)
    case manifest(digest: String)
    case group(String)
    case policy(digest: String)
    case command(String)

    public var description: String {
        switch self {
        case .certificate(let issuer, let serial): "certificate:\(issuer)/\(serial)"
        case .device(let id): "device:\(id)"
        case .vendor(let name): "vendor:\(name)"
        case .authority(let id): "authority:\(id)"
        case .owner(let name): "owner:\(name)"
        case .manifest(let digest): "manifest:\(digest)"
        case .group(let name): "group:\(name)"
        case .policy(let digest): "policy:\(digest)"
        case .command(let id): "command:\(id)"
        }
    }

    /// Reads a stored subject; anything that is not one of the forms above is an error, never a guess.
    public init(parsing text: String) throws(FleetkeyError) {
        guard let colon = text.firstIndex(of: ":") else { throw Self.unrecognised(text) }
        let kind = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        func split() throws(FleetkeyError) -> (String, String) {
            guard let slash = rest.lastIndex(of: "/"), slash != rest.startIndex,
                rest.index(after: slash) != rest.endIndex
            else { throw Self.unrecognised(text) }
            return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
        }
        guard !rest.isEmpty else { throw Self.unrecognised(text) }
        switch kind {
        case "certificate":
            let (issuer, serial) = try split()
            self = .certificate(issuer: issuer, serial: serial)
        case "device":
            let (vendor, serial) = try split()
            do {
                self = .device(DeviceID(vendor: try VendorName(vendor), serial: try DeviceSerial(serial)))
            } catch {
                throw Self.unrecognised(text)
            }
        case "vendor":
            do { self = .vendor(try VendorName(rest)) } catch { throw Self.unrecognised(text) }
        case "authority": self = .authority(rest)
        case "owner": self = .owner(rest)
        case "manifest": self = .manifest(digest: rest)
        case "group": self = .group(rest)
        case "policy": self = .policy(digest: rest)
        case "command": self = .command(rest)
        default: throw Self.unrecognised(text)
        }
    }

    private static func unrecognised(_ text: String) -> FleetkeyError {
        FleetkeyError(
            .storage,
            "event subject '\(text.prefix(120))' is not one Fleetkey writes (certificate:, device:, vendor:, "
                + "authority:, owner:, manifest:, group:, policy:, command:); the registry may be damaged or written by a newer Fleetkey"
        )
    }
}
