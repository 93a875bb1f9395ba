// pgjdbc with HikariCP, following pgrotate's credential file (see README).
//
// HikariCP reads the user and the password each time it opens a connection,
// and both may be changed at run time through its HikariConfigMXBean, but
// only a DataSource honours them: with jdbcUrl, HikariCP 2.7 (Debian 12)
// passes them to its DriverDataSource, which ignores them.  Hence
// dataSourceClassName = pgjdbc's PGSimpleDataSource.  A
// thread reads the file every RELOAD_MS; when it changed, it sets the new
// user and password and soft-evicts the pool: idle connections close now,
// the others when they are returned.  pgrotate's drain then sees no session
// of the old role.  maxLifetime is only a backstop (HikariCP ignores one under 30 s).
//
// Run (Java 11+ runs a single source file):
//   java -cp /usr/share/java/HikariCP.jar:/usr/share/java/postgresql.jar:\
//     /usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar RotatingHikari.java
// Environment: DB_CREDENTIALS (the env file sink), RELOAD_MS (500),
// JDBC_URL (jdbc:postgresql://127.0.0.1:5432/appdb), APP_NAME.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariConfigMXBean;
import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

public class RotatingHikari {
    record Credentials(String user, String password) {}

    // pgrotate's "env" sink: two lines, PGUSER=... and PGPASSWORD=...
    static Credentials read(Path file) throws IOException {
        String user = null, password = null;
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith("PGUSER=")) user = line.substring(7);
            if (line.startsWith("PGPASSWORD=")) password = line.substring(11);
        }
        if (user == null || user.isEmpty() || password == null || password.isEmpty())
            throw new IOException(file + ": no PGUSER= or PGPASSWORD= line");
        return new Credentials(user, password);
    }

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(env("DB_CREDENTIALS", "/etc/app/db.env"));
        long reloadMs = Long.parseLong(env("RELOAD_MS", "500"));
        Credentials[] current = { read(file) };

        HikariConfig config = new HikariConfig();
        config.setDataSourceClassName("org.postgresql.ds.PGSimpleDataSource");
        config.addDataSourceProperty("url", env("JDBC_URL", "jdbc:postgresql://127.0.0.1:5432/appdb"));
        config.setUsername(current[0].user());
        config.setPassword(current[0].password());
        config.setMaximumPoolSize(4);
        config.setMaxLifetime(TimeUnit.MINUTES.toMillis(5));
        config.addDataSourceProperty("applicationName", env("APP_NAME", "hikaricp-recipe"));
        HikariDataSource ds = new HikariDataSource(config);

        ScheduledExecutorService watcher = Executors.newSingleThreadScheduledExecutor();
        watcher.scheduleWithFixedDelay(() -> {
            Credentials next;
            try {
                next = read(file);
            } catch (IOException e) {
                System.err.println("keeping role " + current[0].user() + ": " + e.getMessage());
                return;
            }
            if (next.equals(current[0])) return;
            HikariConfigMXBean live = ds.getHikariConfigMXBean();
            live.setUsername(next.user());
            live.setPassword(next.password());
            current[0] = next;
            ds.getHikariPoolMXBean().softEvictConnections();
            System.err.println("credentials changed: now role " + next.user());
        }, reloadMs, reloadMs, TimeUnit.MILLISECONDS);

        Load.run(ds);
        watcher.shutdownNow();
        ds.close();
        Load.report();
    }
}

// A stand-in for the application's work: WORKERS (4) threads running
// "SELECT session_user" with THINK_MS (5) between queries until SIGTERM;
// then one line on stdout: queries=N failures=N users=role:N,...
class Load {
    static final AtomicLong failures = new AtomicLong();
    static final Map<String, Long> users = new TreeMap<>();
    static volatile boolean stopping;

    static void run(HikariDataSource ds) throws InterruptedException {
        int workers = Integer.parseInt(RotatingHikari.env("WORKERS", "4"));
        long think = Long.parseLong(RotatingHikari.env("THINK_MS", "5"));
        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : new String[] { "TERM", "INT" })
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.countDown());
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(() -> {
                while (!stopping) {
                    try (Connection c = ds.getConnection(); Statement st = c.createStatement();
                         ResultSet rs = st.executeQuery("SELECT session_user")) {
                        rs.next();
                        synchronized (users) { users.merge(rs.getString(1), 1L, Long::sum); }
                    } catch (Exception e) {
                        failures.incrementAndGet();
                        System.err.println("query failed: " + e.getMessage());
                    }
                    try { Thread.sleep(think); } catch (InterruptedException e) { return; }
                }
            });
            t.start();
            threads.add(t);
        }
        stop.await();
        stopping = true;
        for (Thread t : threads) t.join();
    }

    static void report() {
        StringBuilder u = new StringBuilder();
        long ok = 0;
        for (Map.Entry<String, Long> e : users.entrySet()) {
            u.append(u.length() > 0 ? "," : "").append(e.getKey()).append(':').append(e.getValue());
            ok += e.getValue();
        }
        System.out.println("queries=" + (ok + failures.get()) + " failures=" + failures.get() + " users=" + u);
        System.out.flush();
    }
}
