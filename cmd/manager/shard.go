package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	dbrestv1 "github.com/dbrest-io/dbrest-operator/api/v1alpha1"
)

// defaultLeaderElectionID is the Lease of an unsharded operator.
const defaultLeaderElectionID = "dbrest-operator.apps.dbrest.io"

// shardOptions turns --shard-selector into the cache options and the
// leader-election ID of this shard.
//
// A shard watches, caches and reconciles only the Deployments its
// selector matches; everything else (DatabaseAPIs, Secrets, ConfigMaps)
// it sees in full, since any Deployment may use any of them. Filtering at
// the watch, not in a predicate, is what makes shards scale: each one
// holds only its own objects in memory and gets only their events.
//
// Each shard runs its own leader election, so the default Lease name gets
// a suffix derived from the selector: two replicas of one shard share a
// Lease, two shards never do. An explicit --leader-election-id is kept as
// given.
func shardOptions(o options) (cache.Options, string, error) {
	id := o.leaderElectionID
	if o.shardSelector == "" {
		if id == "" {
			id = defaultLeaderElectionID
		}
		return cache.Options{}, id, nil
	}
	sel, err := labels.Parse(o.shardSelector)
	if err != nil {
		return cache.Options{}, "", fmt.Errorf("--shard-selector %q: %w", o.shardSelector, err)
	}
	if sel.Empty() {
		return cache.Options{}, "", fmt.Errorf("--shard-selector %q selects everything; leave it unset for one shard", o.shardSelector)
	}
	if id == "" {
		id = defaultLeaderElectionID + "-" + shardSuffix(sel)
	}
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&dbrestv1.Deployment{}: {Label: sel},
	}}
	return opts, id, nil
}

// shardSuffix names a shard by a hash of its parsed selector, so that
// spellings that mean the same (spaces, order of requirements) share a
// Lease and the name stays a valid DNS label whatever the selector holds.
func shardSuffix(sel labels.Selector) string {
	sum := sha256.Sum256([]byte(sel.String()))
	return "shard-" + hex.EncodeToString(sum[:5])
}
