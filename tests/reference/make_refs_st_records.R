# Reference values for stset's id(): multiple records per subject (counting-process data
# with a time-varying covariate, delayed entry, records after a failure).
# Run from the repository root:  Rscript tests/reference/make_refs_st_records.R
# Writes tests/reference/censored/st_records.csv (the records, as a user stsets them:
# id, exit time, failure, entry) and censored/st_records.json.
# Software: R 4.2.2, survival, numDeriv, jsonlite (flexsurv where installed).
#
# Each record's span (t0, t] is found here independently of mejax: records sorted by exit
# time within subject, t0 = the previous record's exit (0 for the first), raised to the
# subject's entry time; records ending on or before entry, and records beginning on or
# after the subject's first failure, are dropped (what Stata's stset, id() excludes).
# The left-truncated likelihood sum d log h(t) + log S(t) - log S(t0) is maximised with
# optim(BFGS) polished by nlminb; SEs from a numDeriv Hessian.  survival::survreg cannot
# fit left truncation; flexsurv::flexsurvreg(Surv(t0, t, d) ~ ...) is an independent
# check where it is installed (its log likelihood is printed next to the optimiser's).
suppressMessages({library(survival); library(numDeriv); library(jsonlite)})
out <- "tests/reference/censored"
set.seed(20261201)
n_subj <- 80
rows <- list()
for (i in seq_len(n_subj)) {
  x <- rbinom(1, 1, 0.5)
  k <- sample(1:3, 1)
  cuts <- sort(round(runif(k - 1, 0.2, 3), 3))
  z <- round(rnorm(k), 3)
  # draw the failure time piecewise: Weibull PH with the record's z as a time-varying
  # covariate (p = 1.4, log lambda = -1 + 0.5 x + 0.4 z)
  bounds <- c(0, cuts, Inf)
  u <- -log(runif(1))
  tfail <- Inf
  acc <- 0
  for (j in seq_len(k)) {
    lam <- exp(-1 + 0.5 * x + 0.4 * z[j])
    seg <- lam * (bounds[j + 1]^1.4 - bounds[j]^1.4)
    if (acc + seg >= u) { tfail <- ((u - acc) / lam + bounds[j]^1.4)^(1 / 1.4); break }
    acc <- acc + seg
  }
  cens <- round(runif(1, 1.5, 5), 3)
  stop_at <- min(tfail, cens)
  entry <- if (runif(1) < 0.3) round(runif(1, 0, 0.8), 3) else 0
  for (j in seq_len(k)) {
    start <- bounds[j]
    if (start >= stop_at) break
    end <- min(bounds[j + 1], stop_at)
    d <- as.integer(end == tfail)
    rows[[length(rows) + 1]] <- data.frame(id = i, time = round(end, 4), fail = d, z = z[j],
                                           x = x, entry = entry)
  }
  if (i %% 10 == 0 && is.finite(tfail) && tfail < cens) {
    # a record after the failure: stset excludes it
    rows[[length(rows) + 1]] <- data.frame(id = i, time = round(stop_at, 4) + 0.5, fail = 0,
                                           z = 0, x = x, entry = entry)
  }
}
dat <- do.call(rbind, rows)
dat <- dat[dat$time > 0, ]
dat <- dat[sample(nrow(dat)), ]  # stored unsorted: stset sorts within subject
write.csv(dat, file.path(out, "st_records.csv"), row.names = FALSE)

# the spans, computed here
s <- dat[order(dat$id, dat$time), ]
s$t0 <- ave(s$time, s$id, FUN = function(t) c(0, head(t, -1)))
s$t0 <- pmax(s$t0, s$entry)
excluded_entry <- sum(s$time <= s$entry)
s <- s[s$time > s$entry, ]
first_fail <- ave(ifelse(s$fail == 1, s$time, Inf), s$id, FUN = min)
excluded_after <- sum(s$t0 >= first_fail)
s <- s[s$t0 < first_fail, ]
X <- cbind(x = s$x, z = s$z, `_cons` = 1)

loglik_fn <- function(dist) function(par) {
  b <- par[1:3]; eta <- drop(X %*% b); a <- par[4]
  t <- s$time; t0 <- s$t0; d <- s$fail
  if (dist == "exponential") {
    lh <- eta; lS <- function(u) -exp(eta) * u
  } else if (dist == "weibull") {
    p <- exp(a); lh <- a + eta + (p - 1) * log(t); lS <- function(u) -exp(eta) * u^p
  } else {
    sg <- exp(a)
    lS <- function(u) ifelse(u > 0, pnorm((log(u) - eta) / sg, lower.tail = FALSE,
                                          log.p = TRUE), 0)
    lh <- dnorm((log(t) - eta) / sg, log = TRUE) - a - log(t) - lS(t)
  }
  sum(d * lh + lS(t) - lS(t0))
}
refs <- list(excluded_before_entry = excluded_entry, excluded_after_failure = excluded_after, n_records = nrow(s),
             n_subjects = length(unique(s$id)), failures = sum(s$fail),
             time_at_risk = sum(s$time - s$t0))
for (dist in c("exponential", "weibull", "lognormal")) {
  f <- loglik_fn(dist)
  npar <- if (dist == "exponential") 3 else 4
  obj <- function(q) -f(c(q, rep(0, 4 - npar)))
  start <- if (dist == "lognormal") c(0, 0, 1, 0) else c(0, 0, -1, 0)
  o <- optim(start[1:npar], obj, method = "BFGS", control = list(reltol = 1e-14, maxit = 1000))
  o <- nlminb(o$par, obj, control = list(rel.tol = 1e-14))
  H <- hessian(obj, o$par)
  se <- sqrt(diag(solve(H)))
  ref <- list(loglik = -o$objective, coef = o$par, se = se)
  if (requireNamespace("flexsurv", quietly = TRUE)) {
    fs_dist <- c(exponential = "exp", weibull = "weibullPH", lognormal = "lnorm")[[dist]]
    fs <- flexsurv::flexsurvreg(Surv(t0, time, fail) ~ x + z, data = s, dist = fs_dist)
    cat(dist, "optim", -o$objective, "flexsurv", fs$loglik, "\n")
    ref$flexsurv_loglik <- fs$loglik
  } else {
    cat(dist, "optim", -o$objective, "(flexsurv not installed)\n")
  }
  refs[[dist]] <- ref
}
writeLines(toJSON(refs, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(out, "st_records.json"))
