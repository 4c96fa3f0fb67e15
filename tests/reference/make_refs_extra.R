# Extra reference cases for mejax (nested, three-level, crossed, structured covariances,
# categorical fixed effects, a large crossed design). Run from the repository root:
#   Rscript tests/reference/make_refs_extra.R
# Writes cases/*.json and data/*.csv under tests/reference. Needs R with lme4, nlme, jsonlite.
# lmm_insteval_crossed_ml points at insteval.csv, which lives outside this folder
# (shared/reference/data/insteval.csv, also bundled as mejax/datasets/data/insteval.csv.gz, with
# lme4's level labels of s, d and dept as integers); the script checks that file against lme4::InstEval.
suppressPackageStartupMessages({
  library(lme4); library(nlme); library(jsonlite)
})

ref_dir <- file.path("tests", "reference")
insteval_csv <- Sys.getenv("INSTEVAL_CSV", "mejax/datasets/data/insteval.csv.gz")
if (!file.exists(insteval_csv)) insteval_csv <- "/work/shared/reference/data/insteval.csv"

save_data <- function(df, name) {
  write.csv(df, file.path(ref_dir, "data", paste0(name, ".csv")), row.names = FALSE)
  invisible(name)
}
vc_tidy <- function(m) {
  v <- as.data.frame(VarCorr(m))
  data.frame(group = v$grp, var1 = v$var1, var2 = ifelse(is.na(v$var2), NA, v$var2),
             estimate = v$vcov)
}
save_case <- function(id, data, model, ref) {
  case <- list(id = id, data = paste0(data, ".csv"), model = model, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
        file.path(ref_dir, "cases", paste0(id, ".json")))
  invisible(case)
}
lmer_ref <- function(m, software = "R lme4 1.1-31") {
  list(software = software, loglik = as.numeric(logLik(m)),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       varcomp = vc_tidy(m), nobs = nobs(m))
}
# Rename the entries of a named list; `map` is c(old = "new").
rename <- function(x, map) {
  hit <- names(x) %in% names(map)
  names(x)[hit] <- map[names(x)[hit]]
  x
}
# The fixed effects under Stata names; `names` gives the Stata name of each R coefficient, in R's
# order (intercept first). The result lists them in Stata's order, with _cons last.
stata_fixef <- function(m, names) {
  b <- as.list(fixef(m))
  stopifnot(length(b) == length(names), names[1] == "_cons")
  names(b) <- names
  b[c(names[-1], "_cons")]
}
# Variance components of an nlme fit with one grouping level: lower triangle of the
# random-effects covariance (variances first, then covariances by column) and the residual.
nlme_vc <- function(fit, group, labels, covariances = TRUE) {
  V <- as.matrix(getVarCov(fit))
  k <- nrow(V)
  rows <- data.frame(group = group, var1 = labels, var2 = NA, estimate = diag(V))
  if (covariances && k > 1) {
    ij <- which(lower.tri(V), arr.ind = TRUE)
    ij <- ij[order(ij[, "col"], ij[, "row"]), , drop = FALSE]
    rows <- rbind(rows, data.frame(group = group, var1 = labels[ij[, "col"]], var2 = labels[ij[, "row"]],
                                   estimate = V[ij]))
  }
  rows <- rbind(rows, data.frame(group = "Residual", var1 = NA, var2 = NA, estimate = fit$sigma^2))
  rownames(rows) <- NULL
  rows
}
nlme_ref <- function(fit, varcomp, fixef_map = NULL, software = "R nlme 3.1-162") {
  b <- as.list(fixef(fit)); se <- as.list(sqrt(diag(vcov(fit))))
  if (!is.null(fixef_map)) { b <- rename(b, fixef_map); se <- rename(se, fixef_map) }
  list(software = software, loglik = as.numeric(logLik(fit)), fixef = b, fixef_se = se,
       fixef_se_note = "nlme", varcomp = varcomp, nobs = nobs(fit))
}
mixed <- function(formula, reml, stata, ...) {
  list(kind = "mixed", formula = formula, reml = reml, stata = stata, ...)
}

## 1. Oats: split plot, Variety nested in Block
oats <- as.data.frame(nlme::Oats)
oats <- data.frame(Block = as.character(oats$Block), Variety = as.character(oats$Variety),
                   nitro = as.numeric(oats$nitro), yield = as.numeric(oats$yield))
oats$Variety <- factor(oats$Variety)   # alphabetical: Golden Rain, Marvellous, Victory
oats$variety_code <- as.integer(oats$Variety)
save_data(transform(oats, Variety = as.character(Variety)), "oats")
m <- lmer(yield ~ nitro + Variety + (1 | Block/Variety), oats, REML = FALSE)
ref <- lmer_ref(m)
ref$stata_fixef <- stata_fixef(m, c("_cons", "nitro", "2.variety_code", "3.variety_code"))
save_case("lmm_oats_nested_ml", "oats",
  mixed("yield ~ nitro + Variety + (1 | Block/Variety)", FALSE,
        "mixed yield nitro i.variety_code || Block: || Variety:"), ref)

## 2. Pixel: random intercept and slope for Dog, intercept for Side within Dog
px <- as.data.frame(nlme::Pixel)
px <- data.frame(Dog = as.character(px$Dog), Side = as.character(px$Side),
                 day = as.numeric(px$day), pixel = as.numeric(px$pixel))
px$day2 <- px$day^2
save_data(px, "pixel")
m <- lmer(pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side), px, REML = FALSE)
ref <- lmer_ref(m)
ref$fixef <- rename(ref$fixef, c("I(day^2)" = "I(day**2)"))
ref$fixef_se <- rename(ref$fixef_se, c("I(day^2)" = "I(day**2)"))
save_case("lmm_pixel_threelevel_slopes_ml", "pixel",
  mixed("pixel ~ day + I(day**2) + (day | Dog) + (1 | Dog:Side)", FALSE,
        "mixed pixel day day2 || Dog: day, covariance(unstructured) || Side:"), ref)

## 3. Penicillin, fully crossed, ML (data file shared with lmm_penicillin_crossed_reml)
pen <- read.csv(file.path(ref_dir, "data", "penicillin.csv"))
stopifnot(identical(names(pen), c("diameter", "plate", "sample")),
          all(pen$diameter == lme4::Penicillin$diameter),
          all(pen$plate == as.character(lme4::Penicillin$plate)),
          all(pen$sample == as.character(lme4::Penicillin$sample)))
m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin, REML = FALSE)
save_case("lmm_penicillin_crossed_ml", "penicillin",
  mixed("diameter ~ 1 + (1 | plate) + (1 | sample)", FALSE, "mixed diameter || _all: R.plate || sample:"),
  lmer_ref(m))

## 4. Machines: Worker and Worker:Machine intercepts, REML
mac <- as.data.frame(nlme::Machines)
mac <- data.frame(Worker = as.character(mac$Worker), Machine = as.character(mac$Machine),
                  score = as.numeric(mac$score))
mac$machine_code <- match(mac$Machine, c("A", "B", "C"))
mac$mA <- as.integer(mac$Machine == "A")
mac$mB <- as.integer(mac$Machine == "B")
mac$mC <- as.integer(mac$Machine == "C")
save_data(mac, "machines")
mac$Machine <- factor(mac$Machine)
m <- lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), mac, REML = TRUE)
ref <- lmer_ref(m)
ref$stata_fixef <- stata_fixef(m, c("_cons", "2.machine_code", "3.machine_code"))
save_case("lmm_machines_partially_crossed_reml", "machines",
  mixed("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", TRUE,
        "mixed score i.machine_code || Worker: || Machine:, reml"), ref)

## 5. Machines: exchangeable (compound-symmetric) covariance of machine effects within Worker, ML
fit <- lme(score ~ Machine, random = list(Worker = pdCompSymm(~ 0 + Machine)), data = mac, method = "ML")
save_case("lmm_machines_exchangeable_ml", "machines",
  mixed("score ~ Machine + (0 + Machine | Worker)", FALSE,
        "mixed score i.machine_code || Worker: mA mB mC, noconstant covariance(exchangeable)",
        covariance = "exchangeable"),
  nlme_ref(fit, nlme_vc(fit, "Worker", c("MachineA", "MachineB", "MachineC"))))

## 6. Orthodont: identity covariance (one variance shared by intercept and slope), ML
ort <- read.csv(file.path(ref_dir, "data", "orthodont.csv"))
stopifnot(all(c("distance", "age", "Subject", "female") %in% names(ort)))
fit <- lme(distance ~ age, random = list(Subject = pdIdent(~ age)), data = ort, method = "ML")
save_case("lmm_orthodont_identity_ml", "orthodont",
  mixed("distance ~ age + (1 + age | Subject)", FALSE,
        "mixed distance age || Subject: age, covariance(identity)", covariance = "identity"),
  nlme_ref(fit, nlme_vc(fit, "Subject", c("(Intercept)", "age"), covariances = FALSE)))

## 7. Sleepstudy with a categorical fixed effect (days 0, 1, 2, 3+), REML
ssf <- lme4::sleepstudy
ssf <- data.frame(Reaction = ssf$Reaction, Days = ssf$Days, Subject = as.character(ssf$Subject),
                  dayf = as.integer(pmin(ssf$Days, 3)))
save_data(ssf, "sleepstudy_factor")
ssf$dayf <- factor(ssf$dayf, levels = 0:3)
m <- lmer(Reaction ~ dayf + (1 | Subject), ssf, REML = TRUE)
ref <- lmer_ref(m)
ref$stata_fixef <- stata_fixef(m, c("_cons", "1.dayf", "2.dayf", "3.dayf"))
save_case("lmm_sleepstudy_factor_reml", "sleepstudy_factor",
  mixed("Reaction ~ C(dayf) + (1 | Subject)", TRUE, "mixed Reaction i.dayf || Subject:, reml"), ref)

## 8. InstEval: large crossed design (73,421 rows), ML. No data written here.
ie <- lme4::InstEval
if (file.exists(insteval_csv)) {
  cs <- read.csv(insteval_csv)
  same_partition <- function(a, b) nrow(unique(data.frame(a, b))) == length(unique(a)) &&
    length(unique(a)) == length(unique(b))
  stopifnot(nrow(cs) == nrow(ie), all(cs$y == ie$y),
            all(cs$service == as.integer(as.character(ie$service))),
            same_partition(ie$s, cs$s), same_partition(ie$d, cs$d), same_partition(ie$dept, cs$dept))
} else {
  warning("insteval.csv not found at ", insteval_csv, "; skipped the check against it")
}
m <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), ie, REML = FALSE)
ref <- lmer_ref(m)  # service is a factor (as in lme4::InstEval): coefficient service1
save_case("lmm_insteval_crossed_ml", "insteval",
  mixed("y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", FALSE,
        "mixed y service || _all: R.s || _all: R.d || _all: R.dept#R.service"), ref)

ids <- c("lmm_oats_nested_ml", "lmm_pixel_threelevel_slopes_ml", "lmm_penicillin_crossed_ml",
         "lmm_machines_partially_crossed_reml", "lmm_machines_exchangeable_ml", "lmm_orthodont_identity_ml",
         "lmm_sleepstudy_factor_reml", "lmm_insteval_crossed_ml")
ll <- vapply(ids, function(id) fromJSON(file.path(ref_dir, "cases", paste0(id, ".json")))$reference$loglik, 0)
print(data.frame(case = ids, loglik = sprintf("%.6f", ll)), row.names = FALSE)
cat("extra references written\n")
