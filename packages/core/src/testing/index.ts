export { tierGate } from "./tier.js";
