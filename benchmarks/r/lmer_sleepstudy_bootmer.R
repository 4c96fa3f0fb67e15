# Parametric bootstrap with lme4::bootMer on sleepstudy, ML:
#   lmer(Reaction ~ Days + (Days | Subject), REML = FALSE)
# nsim simulated responses, each refitted (bootMer's refit(), the default; parallel = "no"),
# statistic = c(fixef, variance components incl. residual variance).
# Usage: Rscript lmer_sleepstudy_bootmer.R <sleepstudy.csv> [nsim = 1000] [seed = 1]
# Prints one JSON line: peer, model, nsim, fit_s (the original lmer call), total_s (the bootMer
# call), per_refit_s = total_s / nsim, cpu_total_s, n_failed (refits that returned NA),
# boot_se (bootstrap SDs of the statistics), loglik of the original fit, version.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

csv <- arg(1)
nsim <- as.integer(arg(2, "1000"))
seed <- as.integer(arg(3, "1"))
ss <- read.csv(csv)
ss$Subject <- factor(ss$Subject)

fit <- function() lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE)
m <- fit()                      # warm-up
fit_s <- elapsed(fit())
m <- attr(fit_s, "value")
stat <- function(x) {
  vc <- as.data.frame(VarCorr(x))
  c(fixef(x), setNames(vc$vcov, paste(vc$grp, vc$var1, vc$var2)))
}
p0 <- proc.time()
total_s <- elapsed(suppressWarnings(suppressMessages(
  bootMer(m, stat, nsim = nsim, seed = seed, use.u = FALSE, type = "parametric"))))
cpu <- proc.time() - p0
b <- attr(total_s, "value")
n_failed <- sum(!stats::complete.cases(b$t))

emit(peer = "lme4", model = "sleepstudy_ml_bootmer", nsim = nsim, fit_s = as.numeric(fit_s),
     total_s = as.numeric(total_s), per_refit_s = as.numeric(total_s) / nsim,
     cpu_total_s = cpu[["user.self"]] + cpu[["sys.self"]],
     n_failed = n_failed, boot_se = as.list(apply(b$t, 2, sd, na.rm = TRUE)),
     loglik = as.numeric(logLik(m)), version = lme4_version())
