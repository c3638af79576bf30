package preflight

import (
	"fmt"
	"strings"
	"time"
)

// endOfLife maps PostgreSQL major versions to their end-of-life dates, as
// the PostgreSQL project's versioning policy publishes them.
var endOfLife = map[int]time.Time{
	12: date(2024, 11, 21),
	13: date(2025, 11, 13),
	14: date(2026, 11, 12),
	15: date(2027, 11, 11),
	16: date(2028, 11, 9),
	17: date(2029, 11, 8),
	18: date(2030, 11, 14),
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// EndOfLife returns the end-of-life date of a PostgreSQL major version, and
// false when the table does not know it. Every major below 12 is past its
// end of life; majors above the table are too new to be listed.
func EndOfLife(major int) (time.Time, bool) {
	t, ok := endOfLife[major]
	return t, ok
}

// minHeadroom is the number of free connection slots below which the server
// stage warns: AEP's ingestion opens several connections at once.
const minHeadroom = 5

// ServerDetails are the findings of the server stage.
type ServerDetails struct {
	Version        string `json:"version"`
	VersionNum     int    `json:"versionNum"`
	Major          int    `json:"major"`
	EndOfLife      string `json:"endOfLife,omitempty"` // YYYY-MM-DD
	PastEndOfLife  bool   `json:"pastEndOfLife,omitempty"`
	InRecovery     bool   `json:"inRecovery"`
	ReadOnly       bool   `json:"readOnly"`
	MaxConnections int    `json:"maxConnections"`
	Reserved       int    `json:"reservedConnections"`
	InUse          int    `json:"connectionsInUse"`
	Headroom       int    `json:"headroom"`
	Encoding       string `json:"encoding"`
	Database       string `json:"database"`
	CurrentUser    string `json:"currentUser"`
	Superuser      bool   `json:"superuser,omitempty"`
}

const serverQuery = `SELECT current_setting('server_version_num')::int,
       current_setting('server_version'),
       pg_is_in_recovery(),
       current_setting('default_transaction_read_only') = 'on',
       current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int,
       (SELECT count(*) FROM pg_stat_get_activity(NULL::int) WHERE backend_type = 'client backend'),
       current_setting('server_encoding'),
       current_database(),
       current_user,
       current_setting('is_superuser') = 'on',
       has_database_privilege(current_database(), 'CONNECT')`

func (r *runner) serverStage(q queryResult, dur time.Duration) Result {
	res := Result{ID: StageServer, Status: Pass, Duration: dur}
	if q.err != nil || len(q.rows) != 1 || len(q.rows[0]) < 12 {
		res.Status = Warn
		res.Message = "could not read the server's settings: " + r.queryFailure(q.err)
		return res
	}
	row := q.rows[0]
	d := &ServerDetails{
		VersionNum: atoi(row[0]), Version: r.external(string(row[1])), InRecovery: isTrue(row[2]), ReadOnly: isTrue(row[3]),
		MaxConnections: atoi(row[4]), Reserved: atoi(row[5]), InUse: atoi(row[6]), Encoding: string(row[7]),
		Database: string(row[8]), CurrentUser: string(row[9]), Superuser: isTrue(row[10]),
	}
	d.Major = d.VersionNum / 10000
	d.Headroom = d.MaxConnections - d.Reserved - d.InUse
	res.Details = d

	var warns, fixes []string
	now := r.opts.Now()
	if eol, ok := EndOfLife(d.Major); ok {
		d.EndOfLife = eol.Format(time.DateOnly)
		d.PastEndOfLife = !now.Before(eol)
	} else if d.Major < 12 {
		d.PastEndOfLife = true
	}
	if d.PastEndOfLife {
		when := "long ago"
		if d.EndOfLife != "" {
			when = "on " + d.EndOfLife
		}
		warns = append(warns, fmt.Sprintf("PostgreSQL %d reached end of life %s: no more security fixes", d.Major, when))
		fixes = append(fixes, "upgrade to a supported PostgreSQL major version")
	}
	if d.InRecovery {
		warns = append(warns, "the server is a standby in recovery: long reads may be cancelled by replication conflicts")
		fixes = append(fixes, "point AEP at the primary, or raise max_standby_streaming_delay / enable hot_standby_feedback on the standby")
	}
	if d.Headroom < minHeadroom {
		warns = append(warns, fmt.Sprintf("only %d connection slots are free (max_connections %d, %d reserved, %d in use)", d.Headroom, d.MaxConnections, d.Reserved, d.InUse))
		fixes = append(fixes, "raise max_connections or close idle sessions: AEP's ingestion opens several connections")
	}
	if !strings.EqualFold(d.Encoding, "UTF8") {
		warns = append(warns, fmt.Sprintf("the database encoding is %s, not UTF8", d.Encoding))
		fixes = append(fixes, "non-UTF-8 text may not survive ingestion; check what AEP receives")
	}
	res.Message = fmt.Sprintf("PostgreSQL %s", strings.Fields(d.Version + " ?")[0])
	if d.EndOfLife != "" && !d.PastEndOfLife {
		res.Message += ", supported until " + d.EndOfLife
	}
	if d.ReadOnly {
		res.Message += ", read-only by default (fine: AEP only reads)"
	}
	res.Message += fmt.Sprintf(", %d connection slots free, encoding %s", d.Headroom, d.Encoding)
	if len(warns) > 0 {
		res.Status, res.Field = Warn, FieldServer
		res.Message = strings.Join(warns, "; ")
		res.Remediation = strings.Join(fixes, "; ")
	}
	return res
}
