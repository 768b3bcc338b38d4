/// Where a device key is in its life (DESIGN.md, "The lifecycle of one device key").
///
/// ```
/// generated ──> provisioned ──> shipped ──> commissioned ──> active <──> suspended
///                                                             ├──> revoked
///                                                             └──> decommissioned
/// ```
/// `revoked` and `decommissioned` are terminal: a key that left service never returns.
public enum DeviceState: String, Sendable, Codable, Hashable, CaseIterable {
    case generated
    case provisioned
    case shipped
    case commissioned
    case active
    case suspended
    case revoked
    case decommissioned

    public var isTerminal: Bool { self == .revoked || self == .decommissioned }
}
