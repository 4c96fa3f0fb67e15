# Reference cases for residual (R-side) covariance structures of linear mixed models:
# AR(1) (with and without gaps in time), MA(1), MA(2), exponential (continuous time),
# exchangeable, unstructured, Toeplitz and independent-by-group residuals.
# Run from the repository root:
#   Rscript tests/reference/make_refs_resid.R
# Writes cases/lmm_resid_*.json and data/{sleepstudy_gaps,bodyweight,orthodont_t,oats_plot}.csv
# under tests/reference (sleepstudy.csv is reused and checked against lme4::sleepstudy).
# Software: R 4.2.2, nlme 3.1-162 (all fits), lme4 1.1-31 (data sets), glmmTMB 1.1.5 / TMB 1.9.2
# (cross-check of the Toeplitz fit only), jsonlite 1.8.4.
#
# Every case is re-evaluated with a plain dense Gaussian log likelihood written here (per-group
# covariance blocks V_g built from the reported parameters, Cholesky, GLS for beta), which checks
# both the parameter mapping to Stata's names/scales and the log likelihood; then the dense
# likelihood is maximised again from the reported estimates (nlminb) to check convergence.
# Both differences are printed, not stored; the script stops if the loglik differs by > 1e-6, the
# re-maximisation gains > 1e-5, or beta / its standard errors disagree.  Last run (R 4.2.2, nlme
# 3.1-162): |nlme loglik - dense loglik| <= 3.3e-12 in every case; re-maximisation gain <= 2.1e-9;
# parameters re-found to <= 2.7e-5 relative; beta and SE agree to ~1e-13.  glmmTMB 1.1.5 toep()
# with the four log-sds tied reproduces the nlme corARMA(p = 3) Toeplitz fit: |loglik diff| 1.3e-12,
# |rho diff| 6e-8.  The banded Toeplitz(2) fit agrees across 4 starts to 1e-10 in loglik.
suppressPackageStartupMessages({
  library(lme4); library(nlme); library(jsonlite)
})

ref_dir <- file.path("tests", "reference")
nlme_sw <- paste("R nlme", packageDescription("nlme")$Version)   # "R nlme 3.1-162"

save_data <- function(df, name) {
  write.csv(df, file.path(ref_dir, "data", paste0(name, ".csv")), row.names = FALSE)
  invisible(name)
}
save_case <- function(id, data, model, ref) {
  case <- list(id = id, data = paste0(data, ".csv"), model = model, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
        file.path(ref_dir, "cases", paste0(id, ".json")))
  invisible(case)
}
mixed <- function(formula, reml, residuals, stata) {
  list(kind = "mixed", formula = formula, reml = reml, residuals = residuals,
       stata = paste0(stata, if (reml) " reml" else ""))
}
resid_spec <- function(type, order = NA, t = NA, by = NA, group) {
  list(type = type, order = order, t = t, by = by, group = group)
}
lme_ctl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12,
                      niterEM = 0, msMaxEval = 2000)
gls_ctl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)
# Random-intercept variance of an lme fit with one grouping level (empty list for gls).
ri_varcomp <- function(fit, group) {
  if (!inherits(fit, "lme")) return(list())
  data.frame(group = group, var1 = "(Intercept)", var2 = NA,
             estimate = as.numeric(getVarCov(fit)))
}
nlme_ref <- function(fit, group, residual, software = nlme_sw) {
  list(software = software, loglik = as.numeric(logLik(fit)), fixef = as.list(coef_fixed(fit)),
       fixef_se = as.list(fixef_se(fit)), varcomp = ri_varcomp(fit, group),
       residual = as.list(residual), nobs = nobs(fit))
}
# sqrt(diag((X' V^-1 X)^-1)) at the estimates.  For ML fits nlme's gls scales vcov by
# N / (N - p) (it uses the REML-type sigma^2); undo that so that ML gls and ML lme fits agree with
# the plain GLS covariance (and with Stata).  The dense check below verifies this for every case.
fixef_se <- function(fit) {
  v <- diag(vcov(fit))
  if (inherits(fit, "gls") && fit$method == "ML") {
    N <- fit$dims$N; p <- fit$dims$p
    v <- v * (N - p) / N
  }
  sqrt(v)
}
coef_fixed <- function(fit) if (inherits(fit, "lme")) fixef(fit) else coef(fit)
cor_par <- function(fit) coef(fit$modelStruct$corStruct, unconstrained = FALSE)
check_converged <- function(fit) {
  # nlme stops with an error when its outer iterations do not converge; also insist on a
  # finite, positive-definite approximate Hessian for lme fits.
  if (inherits(fit, "lme")) stopifnot(!is.character(fit$apVar))
  invisible(TRUE)
}

## Dense Gaussian log likelihood ---------------------------------------------------------------
# y, X: response and design; g: grouping vector; vblocks(par) returns a list of covariance
# matrices, one per group in the order of split(seq_along(y), g), or NULL when par is invalid.
dense_ll <- function(par, y, X, g, vblocks, reml) {
  idx <- split(seq_along(y), g)
  V <- vblocks(par)
  if (is.null(V)) return(-1e10)
  p <- ncol(X); n <- length(y)
  XtVX <- matrix(0, p, p); XtVy <- numeric(p); logdet <- 0
  Ly <- vector("list", length(idx)); LX <- Ly
  for (k in seq_along(idx)) {
    L <- tryCatch(chol(V[[k]]), error = function(e) NULL)
    if (is.null(L)) return(-1e10)
    logdet <- logdet + 2 * sum(log(diag(L)))
    Ly[[k]] <- backsolve(L, y[idx[[k]]], transpose = TRUE)
    LX[[k]] <- backsolve(L, X[idx[[k]], , drop = FALSE], transpose = TRUE)
    XtVX <- XtVX + crossprod(LX[[k]]); XtVy <- XtVy + crossprod(LX[[k]], Ly[[k]])
  }
  beta <- solve(XtVX, XtVy)
  q <- sum(vapply(seq_along(idx), function(k) sum((Ly[[k]] - LX[[k]] %*% beta)^2), 0))
  ll <- if (!reml) -0.5 * (n * log(2 * pi) + logdet + q) else
    # REML as nlme (and lme4) report it: no +1/2 log|X'X| term.
    -0.5 * ((n - p) * log(2 * pi) + logdet + q + as.numeric(determinant(XtVX)$modulus))
  structure(ll, se = setNames(sqrt(diag(solve(XtVX))), colnames(X)),
            beta = setNames(drop(beta), colnames(X)))
}
# Compare the reported loglik with the dense one at `par`, then re-maximise the dense likelihood
# from a start 1% away from `par` (gain = dense maximum - dense value at `par`, which should be
# ~0, and the parameters found should agree with `par`).
dense_check <- function(id, fit, par, y, X, g, vblocks, reml, lower = -Inf, upper = Inf) {
  ll_fit <- as.numeric(logLik(fit))
  ll_dense <- dense_ll(par, y, X, g, vblocks, reml)
  se_diff <- max(abs(attr(ll_dense, "se") / fixef_se(fit) - 1))
  beta_diff <- max(abs(attr(ll_dense, "beta") - coef_fixed(fit)) / attr(ll_dense, "se"))
  ll_dense <- as.numeric(ll_dense)
  sc <- pmax(abs(par), 1e-2)   # optimise over par / sc, so that all parameters are O(1)
  lower <- rep_len(lower, length(par)) / sc; upper <- rep_len(upper, length(par)) / sc
  start <- pmin(pmax(par / sc * 1.01 + 1e-3, lower), upper)
  opt <- nlminb(start, function(u) -dense_ll(u * sc, y, X, g, vblocks, reml), lower = lower,
                upper = upper, control = list(eval.max = 10000, iter.max = 10000, rel.tol = 1e-15))
  gain <- -opt$objective - ll_dense
  dpar <- max(abs(opt$par * sc - par) / sc)
  cat(sprintf(paste("check %-40s loglik %.10f |nlme-dense| %.1e re-max gain %.1e",
                    "max rel par diff %.1e; beta diff/se %.1e, se rel diff %.1e\n"),
              id, ll_fit, abs(ll_fit - ll_dense), gain, dpar, beta_diff, se_diff))
  stopifnot(abs(ll_fit - ll_dense) < 1e-6, gain < 1e-5, se_diff < 1e-6, beta_diff < 1e-6)
  invisible(ll_dense)
}
# Correlation matrices used by the dense checks (Stata's definitions).
ar1_cor <- function(t, rho) rho^abs(outer(t, t, "-"))
toep_cor <- function(t, rhos) {  # rho_k at lag k <= length(rhos), 0 beyond
  lag <- abs(outer(t, t, "-")); r <- c(1, rhos, 0)[pmin(lag, length(rhos) + 1) + 1]
  matrix(r, length(t))
}
ma_cor <- function(t, theta) {  # e_t = u_t + theta_1 u_{t-1} + ... + theta_q u_{t-q}
  psi <- c(1, theta); q <- length(theta)
  acf <- vapply(1:q, function(k) sum(psi[1:(q + 1 - k)] * psi[(1 + k):(q + 1)]), 0) / sum(psi^2)
  toep_cor(t, acf)
}
# Blocks tau2 * J + sig2 * R(t) for a random intercept plus residual correlation.
ri_blocks <- function(t, g, corfun, has_ri = TRUE) {
  ts <- split(t, g)
  function(par) {   # par = c(tau2, sig2, corpars...) or c(sig2, corpars...) without RI
    tau2 <- if (has_ri) par[1] else 0
    rest <- if (has_ri) par[-1] else par
    if (tau2 < 0 || rest[1] <= 0) return(NULL)
    lapply(ts, function(tt) tau2 + rest[1] * corfun(tt, rest[-1]))
  }
}

## 1. AR(1) on sleepstudy, random intercept, t = Days (ML and REML) ------------------------------
ss <- read.csv(file.path(ref_dir, "data", "sleepstudy.csv"), colClasses = c(Subject = "character"))
stopifnot(identical(names(ss), c("Reaction", "Days", "Subject")),
          all.equal(ss$Reaction, lme4::sleepstudy$Reaction), all(ss$Days == lme4::sleepstudy$Days),
          all(ss$Subject == as.character(lme4::sleepstudy$Subject)))
Xss <- model.matrix(~ Days, ss)
for (reml in c(FALSE, TRUE)) {
  fit <- lme(Reaction ~ Days, random = ~ 1 | Subject, correlation = corAR1(form = ~ Days | Subject),
             data = ss, method = if (reml) "REML" else "ML", control = lme_ctl)
  check_converged(fit)
  id <- paste0("lmm_resid_ar1_sleepstudy_", if (reml) "reml" else "ml")
  rho <- as.numeric(cor_par(fit))
  dense_check(id, fit, c(as.numeric(getVarCov(fit)), fit$sigma^2, rho), ss$Reaction, Xss,
              ss$Subject, ri_blocks(ss$Days, ss$Subject, ar1_cor, TRUE), reml,
              lower = c(0, 1e-8, -0.999), upper = c(Inf, Inf, 0.999))
  save_case(id, "sleepstudy",
    mixed("Reaction ~ Days + (1 | Subject)", reml,
          resid_spec("ar", 1, "Days", group = "Subject"),
          "mixed Reaction Days || Subject:, residuals(ar 1, t(Days))"),
    nlme_ref(fit, "Subject", c(rho = rho, "var(e)" = fit$sigma^2)))
}

## 2. AR(1) with gaps in time: rows with (subject index + Days) %% 4 == 0 removed, ML -------------
sidx <- as.integer(factor(ss$Subject))   # subjects numbered 1..18 in sorted order
ssg <- ss[(sidx + ss$Days) %% 4 != 0, ]
rownames(ssg) <- NULL
save_data(ssg, "sleepstudy_gaps")
fit <- lme(Reaction ~ Days, random = ~ 1 | Subject, correlation = corAR1(form = ~ Days | Subject),
           data = ssg, method = "ML", control = lme_ctl)
check_converged(fit)
rho <- as.numeric(cor_par(fit))
dense_check("lmm_resid_ar1_sleepstudy_gaps_ml", fit, c(as.numeric(getVarCov(fit)), fit$sigma^2, rho),
            ssg$Reaction, model.matrix(~ Days, ssg), ssg$Subject,
            ri_blocks(ssg$Days, ssg$Subject, ar1_cor, TRUE), FALSE,
            lower = c(0, 1e-8, -0.999), upper = c(Inf, Inf, 0.999))
save_case("lmm_resid_ar1_sleepstudy_gaps_ml", "sleepstudy_gaps",
  mixed("Reaction ~ Days + (1 | Subject)", FALSE, resid_spec("ar", 1, "Days", group = "Subject"),
        "mixed Reaction Days || Subject:, residuals(ar 1, t(Days))"),
  nlme_ref(fit, "Subject", c(rho = rho, "var(e)" = fit$sigma^2)))

## 3. MA(1) and MA(2) on sleepstudy, random intercept, ML -----------------------------------------
for (q in 1:2) {
  fit <- lme(Reaction ~ Days, random = ~ 1 | Subject,
             correlation = corARMA(form = ~ Days | Subject, p = 0, q = q),
             data = ss, method = "ML", control = lme_ctl)
  check_converged(fit)
  theta <- as.numeric(cor_par(fit))
  id <- sprintf("lmm_resid_ma%d_sleepstudy_ml", q)
  dense_check(id, fit, c(as.numeric(getVarCov(fit)), fit$sigma^2, theta), ss$Reaction, Xss,
              ss$Subject, ri_blocks(ss$Days, ss$Subject, ma_cor, TRUE), FALSE,
              lower = c(0, 1e-8, rep(-5, q)), upper = c(Inf, Inf, rep(5, q)))
  res <- setNames(as.list(theta), paste0("theta", 1:q)); res[["var(e)"]] <- fit$sigma^2
  save_case(id, "sleepstudy",
    mixed("Reaction ~ Days + (1 | Subject)", FALSE, resid_spec("ma", q, "Days", group = "Subject"),
          sprintf("mixed Reaction Days || Subject:, residuals(ma %d, t(Days))", q)),
    nlme_ref(fit, "Subject", res))
}

## 4. Exponential correlation in continuous time: BodyWeight (Time in days 1, 8, ..., 43, 44, ..., 64)
# corExp: corr = exp(-d / range) = rho^d with rho = exp(-1 / range).
# With only a random intercept and weight ~ Time the rat intercept variance goes to 0 (range ->
# ~5000 days absorbs it), so (a) has a random intercept with diet-specific lines and (b) random
# intercepts and slopes; both are well identified.
bw <- as.data.frame(nlme::BodyWeight)
bw <- data.frame(weight = as.numeric(bw$weight), Time = as.numeric(bw$Time),
                 Rat = as.integer(as.character(bw$Rat)), Diet = as.integer(as.character(bw$Diet)))
bw$diet2 <- as.integer(bw$Diet == 2); bw$diet3 <- as.integer(bw$Diet == 3)
bw$time_diet2 <- bw$Time * bw$diet2; bw$time_diet3 <- bw$Time * bw$diet3   # plain interaction columns
save_data(bw, "bodyweight")
# (a) diet-specific intercepts and slopes, random intercept per rat
fml <- weight ~ Time + diet2 + diet3 + time_diet2 + time_diet3
fit <- lme(fml, random = ~ 1 | Rat, correlation = corExp(form = ~ Time | Rat),
           data = bw, method = "ML", control = lme_ctl)
check_converged(fit)
rho <- exp(-1 / as.numeric(cor_par(fit)))
dense_check("lmm_resid_exponential_bodyweight_ml", fit,
            c(as.numeric(getVarCov(fit)), fit$sigma^2, rho), bw$weight, model.matrix(fml, bw),
            bw$Rat, ri_blocks(bw$Time, bw$Rat, ar1_cor, TRUE), FALSE,
            lower = c(0, 1e-8, 1e-6), upper = c(Inf, Inf, 1 - 1e-9))
save_case("lmm_resid_exponential_bodyweight_ml", "bodyweight",
  mixed("weight ~ Time + diet2 + diet3 + time_diet2 + time_diet3 + (1 | Rat)", FALSE,
        resid_spec("exponential", t = "Time", group = "Rat"),
        "mixed weight Time diet2 diet3 time_diet2 time_diet3 || Rat:, residuals(exponential, t(Time))"),
  nlme_ref(fit, "Rat", c(rho = rho, "var(e)" = fit$sigma^2)))
# (b) weight ~ Time + (Time | Rat)
fit <- lme(weight ~ Time, random = ~ Time | Rat, correlation = corExp(form = ~ Time | Rat),
           data = bw, method = "ML", control = lme_ctl)
check_converged(fit)
rho <- exp(-1 / as.numeric(cor_par(fit)))
G <- as.matrix(getVarCov(fit))
rs_blocks <- function(par) {   # par = c(G11, G21, G22, sig2, rho)
  G <- matrix(par[c(1, 2, 2, 3)], 2)
  if (par[4] <= 0 || min(eigen(G, symmetric = TRUE, only.values = TRUE)$values) < 0) return(NULL)
  lapply(split(bw$Time, bw$Rat), function(tt) {
    Z <- cbind(1, tt); Z %*% G %*% t(Z) + par[4] * ar1_cor(tt, par[5])
  })
}
dense_check("lmm_resid_exponential_bodyweight_slopes_ml", fit, c(G[1, 1], G[2, 1], G[2, 2], fit$sigma^2, rho),
            bw$weight, model.matrix(~ Time, bw), bw$Rat, rs_blocks, FALSE,
            lower = c(0, -Inf, 0, 1e-8, 1e-6), upper = c(Inf, Inf, Inf, Inf, 1 - 1e-9))
ref <- nlme_ref(fit, "Rat", c(rho = rho, "var(e)" = fit$sigma^2))
ref$varcomp <- data.frame(group = "Rat", var1 = c("(Intercept)", "Time", "(Intercept)"),
                          var2 = c(NA, NA, "Time"), estimate = c(G[1, 1], G[2, 2], G[2, 1]))
save_case("lmm_resid_exponential_bodyweight_slopes_ml", "bodyweight",
  mixed("weight ~ Time + (Time | Rat)", FALSE, resid_spec("exponential", t = "Time", group = "Rat"),
        "mixed weight Time || Rat: Time, covariance(unstructured) residuals(exponential, t(Time))"),
  ref)

## 5a. Exchangeable residuals within Subject, no random effects (gls), Orthodont, ML -------------
ort <- read.csv(file.path(ref_dir, "data", "orthodont.csv"), colClasses = c(Subject = "character"))
stopifnot(all.equal(ort$distance, nlme::Orthodont$distance), all(ort$age == nlme::Orthodont$age),
          all(ort$Subject == as.character(nlme::Orthodont$Subject)))
ort$Sex <- ifelse(ort$female == 1, "Female", "Male")
stopifnot(all(ort$Sex == as.character(nlme::Orthodont$Sex)))
ort$t <- as.integer((ort$age - 8) / 2 + 1)
save_data(ort, "orthodont_t")
exch_cor <- function(t, rho) { R <- matrix(rho, length(t), length(t)); diag(R) <- 1; R }
fit <- gls(distance ~ age, correlation = corCompSymm(form = ~ 1 | Subject), data = ort,
           method = "ML", control = gls_ctl)
rho <- as.numeric(cor_par(fit))
dense_check("lmm_resid_exchangeable_orthodont_ml", fit, c(fit$sigma^2, rho), ort$distance,
            model.matrix(~ age, ort), ort$Subject, ri_blocks(ort$t, ort$Subject, exch_cor, FALSE),
            FALSE, lower = c(1e-8, -0.3), upper = c(Inf, 0.999))
save_case("lmm_resid_exchangeable_orthodont_ml", "orthodont",
  mixed("distance ~ age", FALSE, resid_spec("exchangeable", group = "Subject"),
        "mixed distance age || Subject:, noconstant residuals(exchangeable)"),
  nlme_ref(fit, "Subject", c(rho = rho, "var(e)" = fit$sigma^2)))

## 5b. Exchangeable residuals within plot (Block x Variety), random intercept for Block, Oats, ML --
# With rho > 0 this is the nested random-intercept model (1 | Block/Variety); the loglik is
# checked against lmer below.
oat <- as.data.frame(nlme::Oats)
oat <- data.frame(yield = as.numeric(oat$yield), nitro = as.numeric(oat$nitro),
                  Block = as.character(oat$Block), Variety = as.character(oat$Variety))
oat$plot <- paste(oat$Block, oat$Variety, sep = ":")
save_data(oat, "oats_plot")
fit <- lme(yield ~ nitro, random = ~ 1 | Block, correlation = corCompSymm(form = ~ 1 | Block/plot),
           data = oat, method = "ML", control = lme_ctl)
check_converged(fit)
rho <- as.numeric(cor_par(fit))
stopifnot(abs(as.numeric(logLik(fit)) -
                as.numeric(logLik(lmer(yield ~ nitro + (1 | Block/Variety), oat, REML = FALSE)))) < 1e-5)
oat_blocks <- function(par) {   # par = c(tau2_Block, sig2, rho); exchangeable within plot
  if (par[1] < 0 || par[2] <= 0) return(NULL)
  lapply(split(oat$plot, oat$Block), function(pl) {
    same <- outer(pl, pl, "==")
    par[1] + par[2] * ifelse(same, par[3], 0) + diag(par[2] * (1 - par[3]), length(pl))
  })
}
dense_check("lmm_resid_exchangeable_oats_ml", fit, c(as.numeric(getVarCov(fit)), fit$sigma^2, rho),
            oat$yield, model.matrix(~ nitro, oat), oat$Block, oat_blocks, FALSE,
            lower = c(0, 1e-8, -0.3), upper = c(Inf, Inf, 0.999))
save_case("lmm_resid_exchangeable_oats_ml", "oats_plot",
  mixed("yield ~ nitro + (1 | Block)", FALSE, resid_spec("exchangeable", group = "plot"),
        "mixed yield nitro || Block: || plot:, noconstant residuals(exchangeable)"),
  nlme_ref(fit, "Block", c(rho = rho, "var(e)" = fit$sigma^2)))

## 6. Unstructured residual covariance over t = 1..4 within Subject, no random effects, ML/REML ---
Xo <- model.matrix(~ age + female, ort)
for (reml in c(FALSE, TRUE)) {
  fit <- gls(distance ~ age + female, correlation = corSymm(form = ~ t | Subject),
             weights = varIdent(form = ~ 1 | t), data = ort,
             method = if (reml) "REML" else "ML", control = gls_ctl)
  id <- paste0("lmm_resid_unstructured_orthodont_", if (reml) "reml" else "ml")
  S <- as.matrix(getVarCov(fit, individual = "M01"))   # M01 has t = 1, 2, 3, 4 in order
  stopifnot(all(ort$t[ort$Subject == "M01"] == 1:4))
  # Independent rebuild of S from sigma, the varIdent ratios and the corSymm correlations.
  sdr <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[as.character(1:4)]
  R <- diag(4); R[lower.tri(R)] <- cor_par(fit); R <- R + t(R) - diag(4)
  stopifnot(max(abs(S - fit$sigma^2 * outer(sdr, sdr) * R)) < 1e-8)
  un_blocks <- function(par) {  # par = lower Cholesky factor of S, by column
    L <- matrix(0, 4, 4); L[lower.tri(L, diag = TRUE)] <- par
    lapply(split(ort$t, ort$Subject), function(tt) tcrossprod(L)[tt, tt])
  }
  dense_check(id, fit, t(chol(S))[lower.tri(S, diag = TRUE)], ort$distance, Xo, ort$Subject,
              un_blocks, reml)
  res <- list()
  for (i in 1:4) res[[sprintf("var(e%d)", i)]] <- S[i, i]
  for (i in 1:3) for (j in (i + 1):4) res[[sprintf("cov(e%d,e%d)", i, j)]] <- S[i, j]
  save_case(id, "orthodont_t",
    mixed("distance ~ age + female", reml, resid_spec("unstructured", t = "t", group = "Subject"),
          "mixed distance age female || Subject:, noconstant residuals(unstructured, t(t))"),
    nlme_ref(fit, "Subject", res))
}

## 7. Toeplitz(3) = full band for T = 4, homogeneous variance, no random effects, ML --------------
# A stationary Toeplitz correlation over 4 equally spaced times with 3 free lags is exactly the
# autocorrelation of an AR(3) process at lags 1..3 (Yule-Walker is a bijection between the AR(3)
# stationarity region and positive-definite 4x4 Toeplitz correlation matrices), so nlme's
# corARMA(p = 3) fits the homogeneous Toeplitz model; the rho_k are its autocorrelations.
fit <- gls(distance ~ age + female, correlation = corARMA(form = ~ t | Subject, p = 3, q = 0),
           data = ort, method = "ML", control = gls_ctl)
phi <- as.numeric(cor_par(fit))
rhos <- as.numeric(ARMAacf(ar = phi, lag.max = 3))[-1]
stopifnot(max(abs(corMatrix(fit$modelStruct$corStruct)[["M01"]] - toep_cor(1:4, rhos))) < 1e-10)
Xt <- model.matrix(~ age + female, ort)
dense_check("lmm_resid_toeplitz3_orthodont_ml", fit, c(fit$sigma^2, rhos), ort$distance, Xt,
            ort$Subject, ri_blocks(ort$t, ort$Subject, toep_cor, FALSE), FALSE,
            lower = c(1e-8, rep(-0.999, 3)), upper = c(Inf, rep(0.999, 3)))
# Cross-check with glmmTMB: toep() over factor(t) within Subject, residual variance fixed at ~0,
# the four log-sd parameters tied to one.
if (requireNamespace("glmmTMB", quietly = TRUE)) {
  ort$tf <- factor(ort$t)
  tmb <- glmmTMB::glmmTMB(distance ~ age + female + toep(0 + tf | Subject), data = ort,
                          dispformula = ~ 0, REML = FALSE,
                          map = list(theta = factor(c(1, 1, 1, 1, 2, 3, 4))))
  Ctmb <- attr(glmmTMB::VarCorr(tmb)$cond$Subject, "correlation")
  cat(sprintf("check glmmTMB toep: |loglik diff| %.2e, max |rho diff| %.2e, |var diff| %.2e\n",
              abs(as.numeric(logLik(tmb)) - as.numeric(logLik(fit))),
              max(abs(Ctmb[cbind(2:4, 1)] - rhos)),
              abs(glmmTMB::VarCorr(tmb)$cond$Subject[1, 1] - fit$sigma^2)))
}
res <- setNames(as.list(rhos), paste0("rho", 1:3)); res[["var(e)"]] <- fit$sigma^2
save_case("lmm_resid_toeplitz3_orthodont_ml", "orthodont_t",
  mixed("distance ~ age + female", FALSE, resid_spec("toeplitz", 3, "t", group = "Subject"),
        "mixed distance age female || Subject:, noconstant residuals(toeplitz 3, t(t))"),
  nlme_ref(fit, "Subject", res))

## 7b. Banded Toeplitz(2) over T = 4 (rho_3 = 0), homogeneous variance, no random effects, ML ----
# No R package fits this constraint, so it is fitted directly by maximising the dense Gaussian
# likelihood above (the function that reproduces nlme's loglik to ~1e-12 in every other case),
# from several starts; beta is profiled by GLS.
tp2_ll <- function(par) dense_ll(par, ort$distance, Xt, ort$Subject,
                                 ri_blocks(ort$t, ort$Subject, toep_cor, FALSE), FALSE)
starts <- list(c(fit$sigma^2, rhos[1:2]), c(fit$sigma^2, rhos[1:2] / 2), c(5, 0, 0),
               c(5, 0.5, 0.2), c(3, -0.2, 0.3))
starts <- Filter(function(st) tp2_ll(st) > -1e9, starts)   # drop non-positive-definite starts
opts <- lapply(starts, function(st) {
  sc <- c(5, 1, 1)
  o <- nlminb(st / sc, function(u) -tp2_ll(u * sc), lower = c(1e-8, -0.999, -0.999) / sc,
              upper = c(Inf, 0.999, 0.999) / sc,
              control = list(eval.max = 10000, iter.max = 10000, rel.tol = 1e-15))
  o$par <- o$par * sc; o
})
lls <- vapply(opts, function(o) -o$objective, 0)
best <- opts[[which.max(lls)]]
cat(sprintf("check lmm_resid_toeplitz2_orthodont_ml: loglik over starts %s; max par spread %.1e\n",
            paste(sprintf("%.10f", lls), collapse = " "),
            max(apply(sapply(opts, `[[`, "par"), 1, function(v) diff(range(v))))))
stopifnot(diff(range(lls)) < 1e-8)
ll2 <- tp2_ll(best$par)
res <- list(rho1 = best$par[2], rho2 = best$par[3], "var(e)" = best$par[1])
save_case("lmm_resid_toeplitz2_orthodont_ml", "orthodont_t",
  mixed("distance ~ age + female", FALSE, resid_spec("toeplitz", 2, "t", group = "Subject"),
        "mixed distance age female || Subject:, noconstant residuals(toeplitz 2, t(t))"),
  list(software = paste("R", getRversion(), "dense Gaussian ML (nlminb), make_refs_resid.R"),
       loglik = as.numeric(ll2), fixef = as.list(attr(ll2, "beta")),
       fixef_se = as.list(attr(ll2, "se")), varcomp = list(), residual = res, nobs = nrow(ort)))

## 8. Independent residuals with a separate variance per Sex, random intercept, ML ----------------
fit <- lme(distance ~ age, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex),
           data = ort, method = "ML", control = lme_ctl)
check_converged(fit)
delta <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
v_sex <- fit$sigma^2 * delta[c("Female", "Male")]^2
by_blocks <- function(par) {   # par = c(tau2, var_Female, var_Male)
  if (par[1] < 0 || any(par[2:3] <= 0)) return(NULL)
  lapply(split(ort$Sex, ort$Subject), function(s)
    par[1] + diag(ifelse(s == "Female", par[2], par[3]), length(s)))
}
dense_check("lmm_resid_independent_by_orthodont_ml", fit, c(as.numeric(getVarCov(fit)), v_sex),
            ort$distance, model.matrix(~ age, ort), ort$Subject, by_blocks, FALSE,
            lower = c(0, 1e-8, 1e-8))
save_case("lmm_resid_independent_by_orthodont_ml", "orthodont_t",
  mixed("distance ~ age + (1 | Subject)", FALSE,
        resid_spec("independent", by = "Sex", group = "Subject"),
        "mixed distance age || Subject:, residuals(independent, by(Sex))"),
  nlme_ref(fit, "Subject", list("Female:var(e)" = v_sex[["Female"]], "Male:var(e)" = v_sex[["Male"]])))
