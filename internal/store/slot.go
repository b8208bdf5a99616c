// Redis Cluster hash slots: the slot of a key, and grouping script calls
// so that each touches keys of one slot only.

package store

import "strings"

// Slot returns the Redis Cluster hash slot of key (CRC16/XMODEM of the hash
// tag, modulo 16384), the same function the server uses. Writes are grouped
// by it because a script may only touch keys of one slot.
func Slot(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}

// group splits n items into script calls: per cluster slot on a cluster
// (CROSSSLOT otherwise), arbitrary on a standalone server; at most
// keysPerScript keys each.
func (r *Redis) group(n int, customer func(int) string) [][]int {
	var groups [][]int
	if !r.cluster {
		for lo := 0; lo < n; lo += r.keysPerScript {
			hi := min(lo+r.keysPerScript, n)
			g := make([]int, 0, hi-lo)
			for i := lo; i < hi; i++ {
				g = append(g, i)
			}
			groups = append(groups, g)
		}
		return groups
	}
	bySlot := map[uint16]int{}
	for i := 0; i < n; i++ {
		slot := Slot(Key(customer(i)))
		gi, ok := bySlot[slot]
		if !ok || len(groups[gi]) >= r.keysPerScript {
			gi = len(groups)
			bySlot[slot] = gi
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], i)
	}
	return groups
}
