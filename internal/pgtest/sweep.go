package pgtest

import (
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Labels on every container Start runs. Without Ryuk nothing removes the
// containers of a test binary that dies (a -timeout panic, ^C), so the first
// Start of each process removes those whose process is gone.
const (
	labelPgtest = "org.flowpg.pgtest"
	labelPID    = "org.flowpg.pgtest.pid"
	labelHost   = "org.flowpg.pgtest.host"
)

// ownerLabels are the labels naming this process as the container's owner.
func ownerLabels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		labelPgtest: "true",
		labelPID:    strconv.Itoa(os.Getpid()),
		labelHost:   host,
	}
}

var sweepOnce sync.Once

// sweepOrphans removes, once per process and on a best-effort basis, the
// pgtest containers that a process on this host started and that outlived it.
func sweepOrphans(ctx context.Context) {
	sweepOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		host, err := os.Hostname()
		if err != nil {
			return
		}
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			return
		}
		defer cli.Close()
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{
			All:     true,
			Filters: client.Filters{}.Add("label", labelPgtest+"=true", labelHost+"="+host),
		})
		if err != nil {
			return
		}
		for _, c := range list.Items {
			pid, err := strconv.Atoi(c.Labels[labelPID])
			if err != nil || pid <= 0 || processAlive(pid) {
				continue
			}
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	})
}
