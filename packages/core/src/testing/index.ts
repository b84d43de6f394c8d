export type {
  ContractFramework,
  LeaseStoreContractCase,
  LeaseStoreContractHarness,
} from "./contract.js";
export { describeLeaseStoreContract, LEASE_STORE_CONTRACT_CASES } from "./contract.js";
