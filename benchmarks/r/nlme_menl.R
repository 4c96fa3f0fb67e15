# nlme fits of the menl benchmark models, and a loop of nlme fits over simulated PK studies.
# Usage: Rscript nlme_menl.R <data_dir> <repeats> <pk_studies.csv> <n_studies>
# Prints one JSON line: per model the median in-process seconds of the nlme() call over
# <repeats> runs and its logLik; for the PK loop the seconds of the loop over the first
# <n_studies> studies (column "study") and how many fits failed.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})
suppressPackageStartupMessages(library(nlme))
dir <- arg(1)
repeats <- as.integer(arg(2))
ctl <- nlmeControl(maxIter = 200, pnlsMaxIter = 20, msMaxIter = 200, tolerance = 1e-7,
                   pnlsTol = 1e-6, msTol = 1e-10, niterEM = 0)
orange <- read.csv(file.path(dir, "orange.csv"))
soybean <- read.csv(file.path(dir, "soybean.csv"))
theoph <- read.csv(file.path(dir, "theoph.csv"))
orange$occasion <- ave(orange$age, orange$Tree, FUN = rank)
fol <- conc ~ Dose * exp(lKe + lKa - lCl) * (exp(-exp(lKe) * Time) - exp(-exp(lKa) * Time)) /
  (exp(lKa) - exp(lKe))
fits <- list(
  orange = function() nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
                           fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Tree,
                           start = c(Asym = 192, xmid = 728, scal = 353), control = ctl),
  soybean = function() nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)), data = soybean,
                            fixed = Asym + xmid + scal ~ 1, random = Asym ~ 1 | Plot,
                            start = c(Asym = 19, xmid = 55, scal = 8), control = ctl),
  theoph = function() nlme(fol, data = theoph, fixed = lKe + lKa + lCl ~ 1,
                           random = pdDiag(lCl + lKa ~ 1), groups = ~Subject,
                           start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2), control = ctl),
  orange_ar1 = function() nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)),
                               data = orange, fixed = Asym + xmid + scal ~ 1,
                               random = Asym ~ 1 | Tree,
                               correlation = corAR1(form = ~occasion | Tree),
                               start = c(Asym = 192, xmid = 728, scal = 353), control = ctl),
  soybean_ctar1_power = function() nlme(weight ~ Asym / (1 + exp(-(Time - xmid) / scal)),
                                        data = soybean, fixed = Asym + xmid + scal ~ 1,
                                        random = Asym ~ 1 | Plot,
                                        weights = varPower(form = ~fitted(.)),
                                        correlation = corCAR1(form = ~Time | Plot),
                                        start = c(Asym = 19, xmid = 55, scal = 8),
                                        control = ctl))
out <- list(peer = "nlme", version = as.character(packageVersion("nlme")))
for (name in names(fits)) {
  times <- numeric(repeats)
  for (i in seq_len(repeats)) times[i] <- as.numeric(elapsed(m <- fits[[name]]()))
  out[[name]] <- list(fit_s = median(times), loglik = as.numeric(logLik(m)))
}
pk <- read.csv(arg(3))
n <- as.integer(arg(4))  # 0: no PK loop
failed <- 0
loop_s <- elapsed(for (s in seq_len(n)) {
  d <- theoph
  d$conc <- pk$conc[pk$study == s - 1]
  f <- try(nlme(fol, data = d, fixed = lKe + lKa + lCl ~ 1, random = pdDiag(lCl + lKa ~ 1),
                groups = ~Subject, start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2),
                control = ctl), silent = TRUE)
  if (inherits(f, "try-error")) failed <- failed + 1
})
out$pk_loop <- list(studies = n, loop_s = as.numeric(loop_s), failed = failed)
do.call(emit, out)
