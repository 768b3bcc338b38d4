// The registry's operations on this store (RegistryStore, RevocationStore, SupplyChainStore) are written once, in
// FleetkeyRegistrySQL; whoever uses this store's type directly gets them with this module.
@_exported import FleetkeyRegistrySQL
