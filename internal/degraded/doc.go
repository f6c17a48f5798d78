// Package degraded checks reads of multi-device fixtures whose devices
// are missing or present but wrong, against what the kernel read from the
// intact filesystem: for every device in turn (RAID6: every pair too),
// omitted, zeroed except its superblocks, or overwritten with random bytes
// except its superblocks, every file must hash as the manifest recorded
// and every kernel stream must be reproduced byte for byte. It is shared
// by the fixture tests and the kernel oracle.
package degraded
